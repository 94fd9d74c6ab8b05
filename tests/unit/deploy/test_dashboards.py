"""Dashboards and rules only query metrics that exist; the JSON matches the generator."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from faust.sensors.prometheus import FaustMetrics
from prometheus_client import CollectorRegistry

from pipeline.lag import LagCollector, LagSnapshot
from pipeline.metrics import pipeline_metrics
from tests.support.kafka import REPO

DEPLOY = REPO / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
RULES = DEPLOY / "prometheus" / "rules.yml"
METRIC = re.compile(r"\b((?:mentionflow|faust)[a-z0-9_:]*|up)\b(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression (string literals such as job names removed)."""
    return set(METRIC.findall(re.sub(r'"[^"]*"', '""', expr)))


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", DEPLOY / "grafana" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_names() -> set[str]:
    """Every series name a worker or connector exports, plus recording rules and ``up``."""
    registry = CollectorRegistry()
    metrics = pipeline_metrics(registry)
    lag = LagCollector()
    lag.update(LagSnapshot("g", {("t", 0): 1}))
    registry.register(lag)
    FaustMetrics.create(registry, "faust")
    names = {"up"}
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    # Families without samples yet (labelled metrics never used) keep their suffixed names.
    for family in registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "sum", "count"))
    assert metrics is not None
    rules = yaml.safe_load(RULES.read_text())
    names.update(r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r)
    return names


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_checked_in_json_matches_the_generator() -> None:
    rendered = generator().render()
    assert set(rendered) == {p.name for p in DASHBOARDS.glob("*.json")}
    for name, text in rendered.items():
        assert (DASHBOARDS / name).read_text() == text, (
            f"{name} is stale: run python deploy/grafana/generate.py"
        )


@pytest.mark.parametrize("path", sorted(DASHBOARDS.glob("*.json")), ids=lambda p: p.stem)
def test_dashboard_queries_only_known_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == path.stem
    assert "mentionflow" in dashboard["tags"]
    exprs = expressions(dashboard)
    assert exprs, "a dashboard without queries"
    known = exported_names()
    for expr in exprs:
        unknown = metric_names(expr) - known
        assert not unknown, f"{path.name}: {expr!r} uses unknown {unknown}"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "prometheus"


def test_rules_query_only_known_metrics() -> None:
    known = exported_names()
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            unknown = metric_names(rule["expr"]) - known
            assert not unknown, f"{rule.get('alert') or rule.get('record')}: unknown {unknown}"


def test_the_four_dashboards_exist() -> None:
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS.glob("*.json")}
    assert titles == {
        "mentionflow / Pipeline flow",
        "mentionflow / SLA and customers",
        "mentionflow / Connectors",
        "mentionflow / Kafka lag",
    }
