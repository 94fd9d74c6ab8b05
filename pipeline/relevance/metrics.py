"""Metrics of the relevance stage, on an injectable registry.

The shared stage counters (``mentionflow_stage_received_total{stage="relevance"}``,
``..._passed_total``, ``..._dropped_total{reason}``, ``..._deadlettered_total{error}``) and
the escalation counters (``mentionflow_escalation_*``) come from :mod:`pipeline.metrics`.
This module adds one counter only the relevance stage knows:
``mentionflow_relevance_escalated_total{rule}`` — ``forced`` (always-escalate rule),
``budget`` (score over the budget threshold) or ``competitor`` (a competitor crisis).

``relevance_metrics(registry)`` returns both, created once per registry (default: the one
set by :func:`set_registry`, else prometheus_client's global registry).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from pipeline.metrics import PipelineMetrics, pipeline_metrics

__all__ = ["RelevanceMetrics", "relevance_metrics", "set_registry"]

_registry: CollectorRegistry | None = None
_by_registry: dict[int, RelevanceMetrics] = {}


@dataclass(frozen=True)
class RelevanceMetrics:
    pipeline: PipelineMetrics
    escalated_by_rule: Counter


def set_registry(registry: CollectorRegistry | None) -> None:
    """Make ``registry`` the default for :func:`relevance_metrics` (None: the global one)."""
    global _registry
    _registry = registry


def relevance_metrics(registry: CollectorRegistry | None = None) -> RelevanceMetrics:
    reg = registry or _registry or REGISTRY
    found = _by_registry.get(id(reg))
    if found is None or found.pipeline.registry is not reg:
        found = RelevanceMetrics(
            pipeline=pipeline_metrics(reg),
            escalated_by_rule=Counter(
                "mentionflow_relevance_escalated_total",
                "Mentions escalated by the relevance stage, by the rule that decided "
                "(forced: always-escalate; budget: score over the threshold; competitor: "
                "a competitor crisis)",
                ["rule"],
                registry=reg,
            ),
        )
        _by_registry[id(reg)] = found
    return found
