"""Prometheus metrics of connectors, one set per registry.

Labels are the connector instance name (from the operator's config) and the source
network; never handles, ids or addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

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


_BY_REGISTRY: dict[int, ConnectorMetrics] = {}


def connector_metrics(registry: CollectorRegistry | None = None) -> ConnectorMetrics:
    """The connector metrics of ``registry`` (created once per registry)."""
    registry = registry or REGISTRY
    existing = _BY_REGISTRY.get(id(registry))
    if existing is not None:
        return existing
    labels = ["connector", "source"]
    metrics = ConnectorMetrics(
        fetched=Counter(
            "mentionflow_connector_fetched_total",
            "Items a connector fetched or received from its platform",
            labels,
            registry=registry,
        ),
        published=Counter(
            "mentionflow_connector_published_total",
            "Records a connector published to mentions.raw (acknowledged by the broker)",
            labels,
            registry=registry,
        ),
        dead_lettered=Counter(
            "mentionflow_connector_deadlettered_total",
            "Responses or items a connector could not read, sent to mentions.deadletter",
            [*labels, "reason"],
            registry=registry,
        ),
        errors=Counter(
            "mentionflow_connector_errors_total",
            "Failed requests or connections (retried or fatal)",
            [*labels, "kind"],
            registry=registry,
        ),
        rate_limit_waits=Counter(
            "mentionflow_connector_rate_limit_waits_total",
            "Times a connector waited for a platform rate limit",
            labels,
            registry=registry,
        ),
        rate_limit_wait_seconds=Counter(
            "mentionflow_connector_rate_limit_wait_seconds_total",
            "Seconds spent waiting for platform rate limits",
            labels,
            registry=registry,
        ),
        last_success=Gauge(
            "mentionflow_connector_last_success_timestamp_seconds",
            "Unix time of the last batch published and checkpointed",
            labels,
            registry=registry,
        ),
    )
    _BY_REGISTRY[id(registry)] = metrics
    return metrics
