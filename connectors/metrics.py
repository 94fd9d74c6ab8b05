"""Prometheus metrics of connectors.

The metrics dashboards and alert rules use (published, errors, rate-limit waits, last
success) are declared once in :mod:`pipeline.metrics`; this module adds the two only
connectors have (items fetched, dead letters) on the same registry and hands them out
together. Labels are the connector instance name (from the operator's config) and the
source network, passed through :func:`pipeline.metrics.label`; never handles, ids or
addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from pipeline.metrics import pipeline_metrics

__all__ = ["ConnectorMetrics", "connector_metrics"]


@dataclass(frozen=True, slots=True)
class ConnectorMetrics:
    fetched: Counter
    published: Counter
    dead_lettered: Counter
    errors: Counter
    rate_limit_waits: Counter
    rate_limit_wait_seconds: Counter
    last_success: Gauge


_BY_REGISTRY: dict[int, tuple[CollectorRegistry, ConnectorMetrics]] = {}


def connector_metrics(registry: CollectorRegistry | None = None) -> ConnectorMetrics:
    """The connector metrics of ``registry`` (created once per registry)."""
    registry = registry or REGISTRY
    existing = _BY_REGISTRY.get(id(registry))
    if existing is not None and existing[0] is registry:
        return existing[1]
    shared = pipeline_metrics(registry)
    labels = ["connector", "source"]
    metrics = ConnectorMetrics(
        fetched=Counter(
            "mentionflow_connector_fetched_total",
            "Items a connector fetched or received from its platform",
            labels,
            registry=registry,
        ),
        published=shared.connector_published,
        dead_lettered=Counter(
            "mentionflow_connector_deadlettered_total",
            "Responses or items a connector could not read, sent to mentions.deadletter",
            [*labels, "reason"],
            registry=registry,
        ),
        errors=shared.connector_errors,
        rate_limit_waits=shared.connector_rate_limit_waits,
        rate_limit_wait_seconds=shared.connector_rate_limit_seconds,
        last_success=shared.connector_last_success,
    )
    _BY_REGISTRY[id(registry)] = (registry, metrics)
    return metrics
