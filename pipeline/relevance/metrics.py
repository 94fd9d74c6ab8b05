"""Prometheus counters of the relevance stage, on an injectable registry.

``relevance_metrics(registry)`` returns the counters bound to ``registry`` (default: the
module-level registry set by :func:`set_registry`, else prometheus_client's global one),
created once per registry so that tests building several apps do not collide.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter

__all__ = ["RelevanceMetrics", "relevance_metrics", "set_registry"]

_registry: CollectorRegistry | None = None
_by_registry: dict[int, RelevanceMetrics] = {}


@dataclass(frozen=True)
class RelevanceMetrics:
    received: Counter
    escalated: Counter  # label reason: forced | budget | competitor
    dropped: Counter  # label reason: not_relevant | not_actionable | below_threshold | ...
    invalid: Counter


def set_registry(registry: CollectorRegistry | None) -> None:
    """Make ``registry`` the default for :func:`relevance_metrics` (None: the global one)."""
    global _registry
    _registry = registry


def relevance_metrics(registry: CollectorRegistry | None = None) -> RelevanceMetrics:
    reg = registry or _registry or REGISTRY
    found = _by_registry.get(id(reg))
    if found is None:
        found = RelevanceMetrics(
            received=Counter(
                "mentionflow_relevance_received_total",
                "Mentions read by the relevance stage",
                registry=reg,
            ),
            escalated=Counter(
                "mentionflow_relevance_escalated_total",
                "Mentions escalated, by reason (forced: always-escalate rule; budget: score "
                "over the threshold; competitor: a competitor crisis)",
                ["reason"],
                registry=reg,
            ),
            dropped=Counter(
                "mentionflow_relevance_dropped_total",
                "Mentions not escalated, by reason",
                ["reason"],
                registry=reg,
            ),
            invalid=Counter(
                "mentionflow_relevance_invalid_total",
                "Records that were not valid mentions (sent to the dead-letter topic)",
                registry=reg,
            ),
        )
        _by_registry[id(reg)] = found
    return found
