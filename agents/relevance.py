"""Relevance stage: ``mentions.normalized`` -> ``mentions.escalated`` (key: customer key).

Each mention is classified (:class:`pipeline.relevance.decision.Classifier`) with the
threshold of the escalation budget; escalations are written as escalation v1 records,
everything else is counted by drop reason. Invalid records go to ``mentions.deadletter``.
The decision is a pure function of the record and the budget state, so a redelivered
mention produces the same escalation (consumers dedupe on the mention id).

Configuration: ``MENTIONFLOW_WATCHLIST`` (settings), ``MENTIONFLOW_MODEL`` (model file,
default the shipped one), ``MENTIONFLOW_ESCALATION_RATE`` (target share, default 0.02).
Without a watch list only the always-escalate rules apply (a warning is logged).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from pipeline.app import Pipeline
from pipeline.deadletter import DeadLetter
from pipeline.mention import Mention
from pipeline.metrics import label as metric_label
from pipeline.relevance.budget import EscalationBudget
from pipeline.relevance.decision import Classifier, Decision
from pipeline.relevance.encoder import Cascade, EncoderUnavailable, encoder_enabled, load_cascade
from pipeline.relevance.escalation import encode_escalation
from pipeline.relevance.metrics import RelevanceMetrics, relevance_metrics
from pipeline.relevance.model import load_model
from pipeline.settings import SettingsError, env_flag
from pipeline.timeutil import utc_now
from pipeline.watchlist import WatchList, load_watchlist

__all__ = [
    "ENCODER_IN_WORKERS",
    "STAGE",
    "Outcome",
    "RelevanceStage",
    "fuse_from_env",
    "install",
    "stage_cascade",
]

log = logging.getLogger(__name__)
STAGE = "relevance"


@dataclass(slots=True)
class Outcome:
    """What to do with one input record: escalate, drop (counted) or dead-letter."""

    decision: Decision | None = None
    escalation: tuple[bytes, bytes] | None = None
    deadletter: DeadLetter | None = None


class RelevanceStage:
    """The agent's logic without Faust: bytes in, :class:`Outcome` out."""

    def __init__(
        self,
        classifier: Classifier,
        budget: EscalationBudget,
        metrics: RelevanceMetrics,
    ) -> None:
        self.classifier = classifier
        self.budget = budget
        self.metrics = metrics

    def handle(self, key: bytes | None, value: bytes, now: datetime | None = None) -> Outcome:
        return self.handle_batch([(key, value)], now)[0]

    def handle_batch(
        self, records: Sequence[tuple[bytes | None, bytes]], now: datetime | None = None
    ) -> list[Outcome]:
        """One :class:`Outcome` per ``(key, value)`` record, in order. The mentions are
        classified together (:meth:`Classifier.decide_batch`, ~2x the throughput of one at
        a time) at the budget's threshold when the batch starts; each decision is then
        observed by the budget in order."""
        stage = self.metrics.pipeline.stage
        outcomes: list[Outcome] = []
        mentions: list[tuple[int, Mention]] = []
        if records:
            stage.received.labels(STAGE).inc(len(records))
        for key, value in records:
            try:
                mentions.append((len(outcomes), Mention.from_json(value)))
                outcomes.append(Outcome())
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                stage.dead_lettered.labels(STAGE, "invalid_mention").inc()
                dl = DeadLetter.of(
                    STAGE, "invalid_mention", f"{type(exc).__name__}: {exc}", value, key=key
                )
                outcomes.append(Outcome(deadletter=dl))
        decisions = self.classifier.decide_batch(
            [m for _, m in mentions], threshold=self.budget.threshold
        )
        now = now or utc_now()
        results = self._outcomes([m for _, m in mentions], decisions, now)
        for (i, _), outcome in zip(mentions, results, strict=True):
            outcomes[i] = outcome
        return outcomes

    def handle_mentions(
        self, mentions: Sequence[Mention], now: datetime | None = None
    ) -> list[Outcome]:
        """Mentions already decoded (the fused normaliser's output): as :meth:`handle_batch`."""
        if mentions:
            self.metrics.pipeline.stage.received.labels(STAGE).inc(len(mentions))
        decisions = self.classifier.decide_batch(list(mentions), threshold=self.budget.threshold)
        return self._outcomes(mentions, decisions, now or utc_now())

    def _outcomes(
        self, mentions: Sequence[Mention], decisions: Sequence[Decision], now: datetime
    ) -> list[Outcome]:
        """The outcomes of a batch, observed by the budget in order. The counters of dropped
        mentions (by source and by reason, ~98% of them) are added up once per batch: a
        labelled ``inc()`` costs about a microsecond, several a post otherwise."""
        evaluated: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        out: list[Outcome] = []
        for mention, decision in zip(mentions, decisions, strict=True):
            if decision.escalate:
                out.append(self._outcome(mention, decision, now))
                continue
            self.budget.observe(decision)
            evaluated[mention.source] += 1
            dropped[decision.drop_reason or "other"] += 1
            out.append(Outcome(decision=decision))
        pipeline = self.metrics.pipeline
        for source, n in evaluated.items():
            pipeline.evaluated.labels(metric_label(source)).inc(n)
        for reason, n in dropped.items():
            pipeline.stage.dropped.labels(STAGE, reason).inc(n)
        return out

    def _outcome(self, mention: Mention, decision: Decision, now: datetime) -> Outcome:
        stage = self.metrics.pipeline.stage
        self.budget.observe(decision)
        self.metrics.pipeline.escalation(
            mention.source,
            decision.priority,
            decision.category,
            escalated=decision.escalate,
            posted_at=mention.created_at,
            escalated_at=now,
        )
        if not decision.escalate:
            stage.dropped.labels(STAGE, decision.drop_reason or "other").inc()
            return Outcome(decision=decision)
        rule = "forced" if decision.forced else ("competitor" if decision.competitor else "budget")
        self.metrics.escalated_by_rule.labels(rule).inc()
        stage.passed.labels(STAGE).inc()
        stage.latency.labels(STAGE).observe(max(0.0, (now - mention.created_at).total_seconds()))
        return Outcome(decision=decision, escalation=encode_escalation(mention, decision, now))


def _env_rate() -> float:
    raw = os.environ.get("MENTIONFLOW_ESCALATION_RATE")
    if raw is None:
        return 0.02
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0.0 < rate < 1.0:
        raise SettingsError(
            f"MENTIONFLOW_ESCALATION_RATE (environment): expected a share in (0, 1), got {raw!r}"
        )
    return rate


#: ``MENTIONFLOW_ENCODER`` when unset, in the workers: off. The cascade costs a worker ~114 MB
#: (idle RSS 139 -> 253 MB, which puts a worker with 1,000,000 customers past its 500 MB
#: budget) and changed no escalation on the sample stream: it only re-scores the English
#: complaint of relevant posts the linear model is unsure about. ``mentionflow classify``
#: keeps it on by default (every post's ``complaint`` is output there).
ENCODER_IN_WORKERS = False


def stage_cascade(model_path: str | None) -> Cascade | None:
    """The encoder cascade of the relevance stage (``None``: linear models only)."""
    return load_cascade(model_path, enabled=encoder_enabled(default=ENCODER_IN_WORKERS))


def build_stage(pipeline: Pipeline, metrics: RelevanceMetrics | None = None) -> RelevanceStage:
    path = pipeline.settings.watchlist
    if path is None:
        log.warning("no MENTIONFLOW_WATCHLIST: only direct messages and e-mails will escalate")
        watchlist = WatchList(entities=(), source="<none>")
    else:
        watchlist = load_watchlist(path)
    model_path = os.environ.get("MENTIONFLOW_MODEL") or None
    try:
        model = load_model(model_path)
    except ValueError as exc:
        raise SettingsError(f"MENTIONFLOW_MODEL (environment): {exc}") from None
    try:
        cascade = stage_cascade(model_path)
    except EncoderUnavailable as exc:
        raise SettingsError(str(exc)) from None
    return RelevanceStage(
        # only relevant posts are re-scored (only they can escalate on a complaint): far
        # fewer posts embedded; the budget quantile sees the others' linear scores
        Classifier(watchlist, model, cascade=cascade, cascade_relevant_only=True),
        EscalationBudget(target_rate=_env_rate()),
        metrics or relevance_metrics(),
    )


#: Most records the agent takes at once, and how long it waits to fill a batch (s).
BATCH_MAX = 500
BATCH_WITHIN_S = 0.02


def fuse_from_env(env: Mapping[str, str] | None = None) -> bool:
    """``MENTIONFLOW_FUSE_RELEVANCE`` (default off): classify inside the normaliser's agent."""
    return env_flag("FUSE_RELEVANCE", False, env)


def install(pipeline: Pipeline) -> None:
    """Register the relevance stage on ``pipeline.app`` (concurrency 1: no loss on commit).

    With ``MENTIONFLOW_FUSE_RELEVANCE=1`` and the normaliser in the same worker, the stage
    runs inside the normaliser's agent on each batch of new mentions (one Faust hop per post instead
    of two, see docs/performance.md) and no agent consumes ``mentions.normalized`` in this
    worker; the normaliser still writes it. Otherwise an agent consumes
    ``mentions.normalized``.
    """
    if pipeline.settings.front == "batch":  # agents.front classifies in its batch loop
        return
    stage = build_stage(pipeline)
    source = pipeline.topic("mentions.normalized")
    escalated = pipeline.topic("mentions.escalated")
    deadletter = pipeline.topic("mentions.deadletter")

    async def after_normalize(mentions: Sequence[Mention]) -> None:
        for outcome in stage.handle_mentions(mentions):
            if outcome.escalation is not None:
                key, value = outcome.escalation
                await escalated.send(key=key, value=value)

    if fuse_from_env():
        from agents.normalize import attach_downstream

        if attach_downstream(pipeline, after_normalize):
            log.info("relevance fused into the normaliser: mentions.normalized is not consumed")
            return
        log.warning(
            "MENTIONFLOW_FUSE_RELEVANCE is on but this worker runs no normaliser: "
            "consuming mentions.normalized"
        )

    # Batches (acked by Faust after the loop body), classified with one decide_batch call.
    # The agent yields nothing: Faust hands every yielded value to the agent's sinks
    # (``Agent._slurp``), about 6% of a worker's CPU for outcomes nobody reads.
    async def relevance(stream: Any) -> None:
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            outcomes = stage.handle_batch([(e.key, e.value) for e in events])
            for event, outcome in zip(events, outcomes, strict=True):
                if outcome.escalation is not None:
                    key, value = outcome.escalation
                    await escalated.send(key=key, value=value)
                elif outcome.deadletter is not None:
                    dl = outcome.deadletter
                    await deadletter.send(key=event.key or dl.id.encode(), value=dl.to_json())

    pipeline.app.agent(source, name="relevance", concurrency=1)(relevance)
