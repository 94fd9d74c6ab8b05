"""Prometheus metrics of the pipeline stages.

Naming follows Prometheus conventions (``_total``, ``_seconds``); labels never carry
personal data (no handles, addresses or ids), only stage, reason and source names.
Tests that build several apps pass their own ``CollectorRegistry``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

__all__ = ["LATENCY_BUCKETS", "StageMetrics", "stage_metrics"]

#: Seconds; from sub-millisecond processing to an hour-long backlog.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


@dataclass(frozen=True, slots=True)
class StageMetrics:
    """Counters every stage keeps: what it received, passed on, dropped and dead-lettered."""

    received: Counter
    passed: Counter
    dropped: Counter
    dead_lettered: Counter
    latency: Histogram


_BY_REGISTRY: dict[int, StageMetrics] = {}


def stage_metrics(registry: CollectorRegistry | None = None) -> StageMetrics:
    """The shared stage metrics of ``registry`` (created once per registry)."""
    registry = registry or REGISTRY
    existing = _BY_REGISTRY.get(id(registry))
    if existing is not None:
        return existing
    metrics = StageMetrics(
        received=Counter(
            "mentionflow_stage_received_total",
            "Records a stage received",
            ["stage"],
            registry=registry,
        ),
        passed=Counter(
            "mentionflow_stage_passed_total",
            "Records a stage passed downstream",
            ["stage"],
            registry=registry,
        ),
        dropped=Counter(
            "mentionflow_stage_dropped_total",
            "Records a stage dropped on purpose",
            ["stage", "reason"],
            registry=registry,
        ),
        dead_lettered=Counter(
            "mentionflow_stage_deadlettered_total",
            "Records a stage sent to the dead-letter topic",
            ["stage", "error"],
            registry=registry,
        ),
        latency=Histogram(
            "mentionflow_stage_event_latency_seconds",
            "Event time (customer's post) to the stage's output",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
    )
    _BY_REGISTRY[id(registry)] = metrics
    return metrics
