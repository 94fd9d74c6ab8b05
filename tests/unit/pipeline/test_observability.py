from __future__ import annotations

import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from pipeline.metrics import pipeline_metrics
from pipeline.observability import (
    apply_targets,
    metrics_port_from_env,
    render,
    start_metrics_server,
)
from pipeline.settings import SettingsError


def test_metrics_port_from_env() -> None:
    assert metrics_port_from_env({}) is None
    assert metrics_port_from_env({"MENTIONFLOW_METRICS_PORT": "9108"}) == 9108
    with pytest.raises(SettingsError, match="MENTIONFLOW_METRICS_PORT"):
        metrics_port_from_env({"MENTIONFLOW_METRICS_PORT": "http"})


def test_apply_targets() -> None:
    registry = CollectorRegistry()
    apply_targets({"MENTIONFLOW_SATISFACTION_TARGET": "85%"}, registry)
    assert registry.get_sample_value("mentionflow_satisfaction_target_ratio") == 0.85
    assert registry.get_sample_value("mentionflow_sla_compliance_target_ratio") == 0.9
    with pytest.raises(SettingsError, match="MENTIONFLOW_RESPONSE_RATE_TARGET"):
        apply_targets({"MENTIONFLOW_RESPONSE_RATE_TARGET": "2"}, registry)


def test_render_concatenates_registries() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Counter("a_total", "a", registry=first).inc()
    Counter("b_total", "b", registry=second).inc(2)
    text = render((first, second)).decode()
    assert "a_total 1.0" in text
    assert "b_total 2.0" in text


def test_connector_metrics_server_serves_the_registry() -> None:
    registry = CollectorRegistry()
    pipeline_metrics(registry).connector_success("inbox", "email", published=3)
    server = start_metrics_server(0, host="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'mentionflow_connector_published_total{connector="inbox",source="email"} 3.0' in body
