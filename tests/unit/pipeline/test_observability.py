from __future__ import annotations

import dataclasses
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from pipeline.metrics import pipeline_metrics
from pipeline.observability import (
    apply_targets,
    faust_sensor_from_env,
    install_metrics,
    metrics_port_from_env,
    render,
    start_metrics_server,
)
from pipeline.settings import Settings, SettingsError


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


def test_faust_sensor_from_env() -> None:
    assert faust_sensor_from_env({}) is True
    assert faust_sensor_from_env({"MENTIONFLOW_FAUST_SENSOR": "on"}) is True
    assert faust_sensor_from_env({"MENTIONFLOW_FAUST_SENSOR": " 0 "}) is False
    assert faust_sensor_from_env({"MENTIONFLOW_FAUST_SENSOR": "False"}) is False
    with pytest.raises(SettingsError, match="MENTIONFLOW_FAUST_SENSOR"):
        faust_sensor_from_env({"MENTIONFLOW_FAUST_SENSOR": "sometimes"})


@pytest.mark.parametrize(("value", "installed"), [("1", True), ("0", False)])
def test_install_metrics_honours_the_sensor_switch(
    value: str, installed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faust
    from faust.sensors.prometheus import PrometheusMonitor

    monkeypatch.setenv("MENTIONFLOW_FAUST_SENSOR", value)
    settings = dataclasses.replace(Settings(), data_dir=tmp_path)
    app = faust.App(f"sensor-{value}", store="memory://", datadir=str(tmp_path))
    install_metrics(app, "group", settings, registry=CollectorRegistry())
    assert isinstance(app.monitor, PrometheusMonitor) is installed
