"""Prometheus metrics of the pipeline: the one place where every metric is declared.

Naming follows Prometheus conventions (``_total``, ``_seconds``, ``_ratio``). Labels never
carry personal data: no handles, addresses, names or ids, only bounded values (stage,
reason, source, priority, queue, alert type, connector instance name). A label value that
looks like an e-mail address or a handle is replaced by ``"redacted"`` (:func:`label`).

Ratios (escalation ratio, SLA compliance, response rate, satisfaction) are computed by
Prometheus from the counters below over a window (recording rules in
``deploy/prometheus/rules.yml``), so they stay right when several workers each count a
share; the targets they are compared with are gauges set from configuration.

How the stages report (module-level functions use the process-wide registry; tests build a
:class:`PipelineMetrics` on a private ``CollectorRegistry``)::

    stage = stage_metrics()                        # every stage: received/passed/dropped/dlq
    metrics.escalation(source, priority, category, escalated=True,
                       posted_at=m.created_at, escalated_at=now)   # relevance, per decision
    metrics.case_opened(priority, queue, posted_at=first_contact, opened_at=now)  # join
    metrics.case_closed(priority, queue, status)                   # join (resolved/merged/...)
    metrics.set_open_cases({(priority, queue): n, ...})            # SLA clock timer, owned parts
    metrics.alert_emitted(alert_type, priority, posted_at=..., emitted_at=now)  # SLA clock
    metrics.case_responded(priority, queue, channel, waited_s, within_sla)      # SLA clock
    metrics.sla_breached(priority)                                 # SLA clock, once per case
    metrics.feedback_received(rating)                              # feedback agent
    metrics.connector_success(name, source, published=n)           # connectors, per batch
    metrics.connector_error(name, source, kind)                    # connectors, per failure
    metrics.connector_rate_limited(name, source, wait_s)           # connectors, per wait
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "FIRST_RESPONSE_BUCKETS",
    "LATENCY_BUCKETS",
    "PipelineMetrics",
    "StageMetrics",
    "alert_emitted",
    "case_closed",
    "case_opened",
    "case_responded",
    "connector_error",
    "connector_rate_limited",
    "connector_success",
    "escalation",
    "feedback_received",
    "label",
    "pipeline_metrics",
    "set_open_cases",
    "sla_breached",
    "stage_metrics",
]

#: Seconds; from sub-millisecond processing to an hour-long backlog.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: Seconds; a first answer takes minutes to days (SLA targets are 15 min .. 24 h).
FIRST_RESPONSE_BUCKETS = (
    60,
    300,
    900,
    1800,
    3600,
    2 * 3600,
    4 * 3600,
    8 * 3600,
    24 * 3600,
    48 * 3600,
    7 * 24 * 3600,
)

#: The end-to-end steps measured from the customer's post time.
STEPS = ("escalation", "case", "alert")

_PERSONAL = re.compile(r"@|^\+?\d[\d\s-]{6,}$")


def label(value: str | None) -> str:
    """A safe label value: ``none`` for missing, ``redacted`` for anything personal-looking."""
    if value is None or value == "":
        return "none"
    if _PERSONAL.search(value):
        return "redacted"
    return value[:64]


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


@dataclass(frozen=True, slots=True)
class StageMetrics:
    """Counters every stage keeps: what it received, passed on, dropped and dead-lettered."""

    received: Counter
    passed: Counter
    dropped: Counter
    dead_lettered: Counter
    latency: Histogram


class PipelineMetrics:
    """Every pipeline metric, registered once on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.stage = StageMetrics(
            received=Counter(
                "mentionflow_stage_received_total",
                "Records a stage received",
                ["stage"],
                registry=r,
            ),
            passed=Counter(
                "mentionflow_stage_passed_total",
                "Records a stage passed downstream",
                ["stage"],
                registry=r,
            ),
            dropped=Counter(
                "mentionflow_stage_dropped_total",
                "Records a stage dropped on purpose (duplicate, not relevant, ...)",
                ["stage", "reason"],
                registry=r,
            ),
            dead_lettered=Counter(
                "mentionflow_stage_deadlettered_total",
                "Records a stage sent to the dead-letter topic",
                ["stage", "error"],
                registry=r,
            ),
            latency=Histogram(
                "mentionflow_stage_event_latency_seconds",
                "Event time (customer's post) to the stage's output",
                ["stage"],
                buckets=LATENCY_BUCKETS,
                registry=r,
            ),
        )
        self.evaluated = Counter(
            "mentionflow_mentions_evaluated_total",
            "Mentions the relevance stage decided on",
            ["source"],
            registry=r,
        )
        self.escalated = Counter(
            "mentionflow_mentions_escalated_total",
            "Mentions escalated to a human",
            ["source", "priority", "category"],
            registry=r,
        )
        self.escalation_ratio = Gauge(
            "mentionflow_escalation_ratio",
            "Escalated / evaluated mentions in this process since start (Prometheus: use "
            "mentionflow:escalation_ratio:rate1h for the fleet)",
            registry=r,
        )
        self.escalation_ratio.set_function(self._escalation_ratio)
        self.end_to_end = Histogram(
            "mentionflow_end_to_end_latency_seconds",
            "Customer's post time to escalation, case opened, or alert emitted",
            ["step"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cases_opened = Counter(
            "mentionflow_cases_opened_total", "Cases opened", ["priority", "queue"], registry=r
        )
        self.cases_closed = Counter(
            "mentionflow_cases_closed_total",
            "Cases leaving the open state (resolved, closed, merged)",
            ["priority", "queue", "status"],
            registry=r,
        )
        self.cases_responded = Counter(
            "mentionflow_cases_responded_total",
            "Cases that got a first response",
            ["priority", "queue"],
            registry=r,
        )
        self.cases_open = Gauge(
            "mentionflow_cases_open",
            "Cases not resolved, closed or merged, in the partitions this worker actively owns",
            ["priority", "queue"],
            registry=r,
        )
        self.alerts = Counter(
            "mentionflow_alerts_total",
            "Alerts emitted (sla.warning, sla.breach, case.responded, volume.spike, ...)",
            ["type", "priority"],
            registry=r,
        )
        self.sla_outcomes = Counter(
            "mentionflow_sla_outcomes_total",
            "Cases whose first response was within (met) or past (breached) the SLA target",
            ["priority", "outcome"],
            registry=r,
        )
        self.first_response = Histogram(
            "mentionflow_first_response_seconds",
            "Customer's first contact to the first response (business-hours agnostic)",
            ["priority", "channel"],
            buckets=FIRST_RESPONSE_BUCKETS,
            registry=r,
        )
        self.sla_compliance_target = Gauge(
            "mentionflow_sla_compliance_target_ratio",
            "Configured target share of cases answered within SLA",
            registry=r,
        )
        self.response_rate_target = Gauge(
            "mentionflow_response_rate_target_ratio",
            "Configured target share of escalated cases that get an answer",
            registry=r,
        )
        self.feedback = Counter(
            "mentionflow_feedback_total",
            "Satisfaction survey answers by rating (five-step scale)",
            ["rating"],
            registry=r,
        )
        self.satisfaction_target = Gauge(
            "mentionflow_satisfaction_target_ratio",
            "Configured target share of satisfied answers",
            registry=r,
        )
        self.connector_last_success = Gauge(
            "mentionflow_connector_last_success_timestamp_seconds",
            "Unix time of the connector's last successful fetch and publish",
            ["connector", "source"],
            registry=r,
        )
        self.connector_published = Counter(
            "mentionflow_connector_published_total",
            "Raw records a connector published",
            ["connector", "source"],
            registry=r,
        )
        self.connector_errors = Counter(
            "mentionflow_connector_errors_total",
            "Connector failures by kind (http, auth, parse, kafka, ...)",
            ["connector", "source", "kind"],
            registry=r,
        )
        self.connector_rate_limit_waits = Counter(
            "mentionflow_connector_rate_limit_waits_total",
            "Times a connector waited for a rate limit",
            ["connector", "source"],
            registry=r,
        )
        self.connector_rate_limit_seconds = Counter(
            "mentionflow_connector_rate_limit_wait_seconds_total",
            "Seconds a connector spent waiting for rate limits",
            ["connector", "source"],
            registry=r,
        )
        self._open_keys: set[tuple[str, str]] = set()

    def _escalation_ratio(self) -> float:
        evaluated = sum(_samples(self.evaluated, "_total"))
        escalated = sum(_samples(self.escalated, "_total"))
        return escalated / evaluated if evaluated else 0.0

    # -- relevance -------------------------------------------------------------------------
    def escalation(
        self,
        source: str,
        priority: str | None,
        category: str | None,
        *,
        escalated: bool,
        posted_at: datetime | None = None,
        escalated_at: datetime | None = None,
    ) -> None:
        """One relevance decision. Escalations also observe post time -> escalation."""
        self.evaluated.labels(label(source)).inc()
        if not escalated:
            return
        self.escalated.labels(label(source), label(priority), label(category)).inc()
        seconds = _seconds_between(posted_at, escalated_at)
        if seconds is not None:
            self.end_to_end.labels("escalation").observe(seconds)

    # -- cases -----------------------------------------------------------------------------
    def case_opened(
        self,
        priority: str,
        queue: str,
        *,
        posted_at: datetime | None = None,
        opened_at: datetime | None = None,
    ) -> None:
        """A new case (not a contact joining one); observes first post -> case opened."""
        self.cases_opened.labels(label(priority), label(queue)).inc()
        seconds = _seconds_between(posted_at, opened_at)
        if seconds is not None:
            self.end_to_end.labels("case").observe(seconds)

    def case_closed(self, priority: str, queue: str, status: str) -> None:
        """A case left the open state (``resolved``, ``closed`` or ``merged``)."""
        self.cases_closed.labels(label(priority), label(queue), label(status)).inc()

    def set_open_cases(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Replace the open-case gauge with ``{(priority, queue): count}``.

        Call it from a timer with the cases of the partitions this worker actively owns
        (not standbys), so ``sum(mentionflow_cases_open)`` over workers is the fleet total.
        Label pairs absent from ``counts`` are set to 0.
        """
        keys = {(label(p), label(q)) for p, q in counts}
        for stale in self._open_keys - keys:
            self.cases_open.labels(*stale).set(0)
        for (priority, queue), count in counts.items():
            self.cases_open.labels(label(priority), label(queue)).set(count)
        self._open_keys |= keys

    # -- SLA clock -------------------------------------------------------------------------
    def alert_emitted(
        self,
        alert_type: str,
        priority: str | None = None,
        *,
        posted_at: datetime | None = None,
        emitted_at: datetime | None = None,
    ) -> None:
        """An alert written to ``alerts``; observes the customer's post -> alert time."""
        self.alerts.labels(label(alert_type), label(priority)).inc()
        seconds = _seconds_between(posted_at, emitted_at)
        if seconds is not None:
            self.end_to_end.labels("alert").observe(seconds)

    def case_responded(
        self, priority: str, queue: str, channel: str, waited_s: float, *, within_sla: bool
    ) -> None:
        """A case's first response (call once per case): response count and time to it.

        ``within_sla=True`` also counts an SLA ``met`` outcome; a late answer counts none,
        since its breach was counted when it happened (:meth:`sla_breached`).
        """
        self.cases_responded.labels(label(priority), label(queue)).inc()
        self.first_response.labels(label(priority), label(channel)).observe(max(0.0, waited_s))
        if within_sla:
            self.sla_outcomes.labels(label(priority), "met").inc()

    def sla_breached(self, priority: str) -> None:
        """A case passed its SLA target without an answer; call once per case."""
        self.sla_outcomes.labels(label(priority), "breached").inc()

    def set_targets(
        self, *, sla_compliance: float, response_rate: float, satisfaction: float
    ) -> None:
        """The configured targets (shares in 0..1) that alert rules compare against."""
        self.sla_compliance_target.set(sla_compliance)
        self.response_rate_target.set(response_rate)
        self.satisfaction_target.set(satisfaction)

    # -- feedback --------------------------------------------------------------------------
    def feedback_received(self, rating: str) -> None:
        """One survey answer; ``rating`` is one of ``pipeline.satisfaction.RATINGS``."""
        self.feedback.labels(label(rating)).inc()

    # -- connectors ------------------------------------------------------------------------
    def connector_success(
        self, connector: str, source: str, *, published: int = 0, at: float | None = None
    ) -> None:
        """A fetch (and publish) succeeded; ``at`` is Unix time (default: now)."""
        keys = (label(connector), label(source))
        self.connector_last_success.labels(*keys).set(time.time() if at is None else at)
        if published:
            self.connector_published.labels(*keys).inc(published)

    def connector_error(self, connector: str, source: str, kind: str) -> None:
        """A failed fetch or publish; ``kind`` is a short code (``http_5xx``, ``auth``, ...)."""
        self.connector_errors.labels(label(connector), label(source), label(kind)).inc()

    def connector_rate_limited(self, connector: str, source: str, wait_s: float) -> None:
        """The connector waits ``wait_s`` seconds for a rate limit."""
        keys = (label(connector), label(source))
        self.connector_rate_limit_waits.labels(*keys).inc()
        self.connector_rate_limit_seconds.labels(*keys).inc(max(0.0, wait_s))


def _samples(metric: Counter, suffix: str) -> list[float]:
    return [
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith(suffix)
    ]


_BY_REGISTRY: dict[int, PipelineMetrics] = {}


def pipeline_metrics(registry: CollectorRegistry | None = None) -> PipelineMetrics:
    """The metrics of ``registry`` (default: the process-wide one), created once."""
    registry = registry or REGISTRY
    existing = _BY_REGISTRY.get(id(registry))
    if existing is None or existing.registry is not registry:
        existing = PipelineMetrics(registry)
        _BY_REGISTRY[id(registry)] = existing
    return existing


def stage_metrics(registry: CollectorRegistry | None = None) -> StageMetrics:
    """The shared stage metrics of ``registry`` (created once per registry)."""
    return pipeline_metrics(registry).stage


# Module-level shortcuts on the process-wide registry: what the agents call.


def escalation(
    source: str,
    priority: str | None,
    category: str | None,
    *,
    escalated: bool,
    posted_at: datetime | None = None,
    escalated_at: datetime | None = None,
) -> None:
    pipeline_metrics().escalation(
        source,
        priority,
        category,
        escalated=escalated,
        posted_at=posted_at,
        escalated_at=escalated_at,
    )


def case_opened(
    priority: str,
    queue: str,
    *,
    posted_at: datetime | None = None,
    opened_at: datetime | None = None,
) -> None:
    pipeline_metrics().case_opened(priority, queue, posted_at=posted_at, opened_at=opened_at)


def case_closed(priority: str, queue: str, status: str) -> None:
    pipeline_metrics().case_closed(priority, queue, status)


def set_open_cases(counts: Mapping[tuple[str, str], int]) -> None:
    pipeline_metrics().set_open_cases(counts)


def alert_emitted(
    alert_type: str,
    priority: str | None = None,
    *,
    posted_at: datetime | None = None,
    emitted_at: datetime | None = None,
) -> None:
    pipeline_metrics().alert_emitted(
        alert_type, priority, posted_at=posted_at, emitted_at=emitted_at
    )


def case_responded(
    priority: str, queue: str, channel: str, waited_s: float, *, within_sla: bool
) -> None:
    pipeline_metrics().case_responded(priority, queue, channel, waited_s, within_sla=within_sla)


def sla_breached(priority: str) -> None:
    pipeline_metrics().sla_breached(priority)


def feedback_received(rating: str) -> None:
    pipeline_metrics().feedback_received(rating)


def connector_success(
    connector: str, source: str, *, published: int = 0, at: float | None = None
) -> None:
    pipeline_metrics().connector_success(connector, source, published=published, at=at)


def connector_error(connector: str, source: str, kind: str) -> None:
    pipeline_metrics().connector_error(connector, source, kind)


def connector_rate_limited(connector: str, source: str, wait_s: float) -> None:
    pipeline_metrics().connector_rate_limited(connector, source, wait_s)
