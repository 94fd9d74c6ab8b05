"""Metrics endpoints: ``/metrics`` on every worker, a small HTTP server for connectors.

A worker serves, on its Faust web server, the process-wide pipeline metrics
(:mod:`pipeline.metrics`), Faust's own sensor (``faust_*``, on a registry of its own, so
several apps in one test process never collide) and the consumer lag of its group, which
only the leader refreshes (every ``LAG_INTERVAL_S``) so that the fleet reports it once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import faust
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.lag import LagCollector, fetch_group_lag
from pipeline.metrics import pipeline_metrics
from pipeline.satisfaction import targets_from_env
from pipeline.settings import Settings, SettingsError, env_flag

__all__ = [
    "LAG_INTERVAL_S",
    "faust_sensor_from_env",
    "install_metrics",
    "metrics_port_from_env",
    "render",
    "start_metrics_server",
]

LAG_INTERVAL_S = 15.0
log = logging.getLogger(__name__)


def render(registries: Iterable[CollectorRegistry]) -> bytes:
    """The text exposition of several registries, concatenated (names must not overlap)."""
    return b"".join(generate_latest(r) for r in registries)


def apply_targets(env: Mapping[str, str], registry: CollectorRegistry | None = None) -> None:
    """Set the target gauges from ``MENTIONFLOW_*_TARGET``; raises SettingsError if bad."""
    try:
        targets = targets_from_env(env)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    pipeline_metrics(registry).set_targets(**targets)


def faust_sensor_from_env(env: Mapping[str, str] | None = None) -> bool:
    """``MENTIONFLOW_FAUST_SENSOR`` (default on): serve Faust's own ``faust_*`` metrics.

    Faust's Prometheus sensor runs on every event and send and costs about 8% of a busy
    worker's CPU (docs/performance.md). It stays on by default because the Grafana dashboard
    and the lag runbook use ``faust_*`` series; turn it off (``0``/``false``/``off``) on
    throughput-bound fleets that only use the ``mentionflow_*`` metrics and consumer lag.
    """
    return env_flag("FAUST_SENSOR", True, env)


def install_metrics(
    app: faust.App,
    group: str | Mapping[str, Collection[str]],
    settings: Settings,
    registry: CollectorRegistry | None = None,
) -> CollectorRegistry:
    """Faust sensor (unless turned off), consumer-lag collector and ``/metrics`` on ``app``.

    ``group``: the consumer group whose lag is reported, or a mapping of groups to the
    topics (full names) to leave out of their lag.

    Returns the app's own registry (Faust sensor and lag); ``registry`` is the pipeline
    metrics registry (default: the process-wide one).
    """
    from faust.sensors.prometheus import setup_prometheus_sensors

    shared = registry or REGISTRY
    pipeline_metrics(shared)
    apply_targets(os.environ, shared)
    own = CollectorRegistry(auto_describe=True)
    if faust_sensor_from_env():
        setup_prometheus_sensors(app, pattern="/metrics/faust", registry=own, name_prefix="faust")
    lag = LagCollector(max_age_s=LAG_INTERVAL_S * 6)
    own.register(lag)
    # Group -> topics (full names) whose offsets it keeps but no longer reads.
    groups: dict[str, Collection[str]] = {group: ()} if isinstance(group, str) else dict(group)

    @app.timer(LAG_INTERVAL_S, on_leader=True)  # type: ignore[untyped-decorator]
    async def refresh_lag() -> None:
        try:
            for name, stale in groups.items():
                lag.update(await fetch_group_lag(settings, name, exclude=stale))
        except Exception as exc:  # lag is advisory: never let it stop the worker
            log.warning("consumer lag not refreshed: %s: %s", type(exc).__name__, exc)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(render((shared, own)), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return own


def metrics_port_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """``MENTIONFLOW_METRICS_PORT`` (connector processes); None when unset."""
    source = os.environ if env is None else env
    raw = (source.get("MENTIONFLOW_METRICS_PORT") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise SettingsError(
            f"MENTIONFLOW_METRICS_PORT (environment): expected a port 0..65535, got {raw!r}"
        )
    return int(raw)


def start_metrics_server(
    port: int, host: str = "0.0.0.0", registry: CollectorRegistry | None = None
) -> Any:
    """Serve ``/metrics`` of ``registry`` from a daemon thread; returns the HTTP server.

    For connector processes; ``server.server_port`` is the bound port (``port=0``: any
    free one), ``server.shutdown()`` stops it.
    """
    from prometheus_client import start_http_server

    shared = registry or REGISTRY
    pipeline_metrics(shared)
    server, _thread = start_http_server(port, addr=host, registry=shared)
    return server
