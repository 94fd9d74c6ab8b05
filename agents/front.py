"""The batch front stage: normalise -> dedupe -> relevance on aiokafka (``MENTIONFLOW_FRONT=batch``).

About 98% of the pipeline's work is per post and ends here (only the ~2% escalated go on
to the join and the SLA clock). Instead of two Faust agents, one
:class:`pipeline.front.runner.FrontRunner` in the worker's event loop consumes
``mentions.raw`` in batches of up to 1,000 records; :class:`FrontStage` turns each batch
into the same records the agents wrote: ``mentions.normalized`` (key mention id),
``mentions.escalated`` (key customer key), ``mentions.deadletter`` (with topic, partition,
offset), and the same stage and relevance metrics. Duplicates (same mention id within
``MENTIONFLOW_DEDUPE_HOURS``) are dropped through :class:`pipeline.front.seen.SeenStore`,
recovered from the ``normalize.seen`` changelog when a partition is assigned.

With ``MENTIONFLOW_FRONT=faust`` this module installs nothing and ``agents.normalize`` /
``agents.relevance`` run as before.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from agents.normalize import STAGE, brand_accounts, normalize_record
from agents.relevance import RelevanceStage, build_stage
from pipeline.app import Pipeline, add_readiness_check
from pipeline.brand import BrandAccounts
from pipeline.deadletter import DeadLetter
from pipeline.front.batch import BatchOutput, RawRecord, Send
from pipeline.front.seen import Seen
from pipeline.mention import Mention
from pipeline.metrics import StageMetrics, stage_metrics
from pipeline.timeutil import utc_now

__all__ = ["FrontStage", "install"]

log = logging.getLogger(__name__)


class FrontStage:
    """One batch of raw records -> outputs and new ids (no Kafka; a :data:`Process`).

    Dead letters carry ``raw_topic`` and the record's partition and offset. A mention id
    already in ``seen`` for the record's partition, or earlier in the same batch, is counted
    as a duplicate and dropped. The new mentions are classified together
    (:meth:`RelevanceStage.handle_mentions`).
    """

    def __init__(
        self,
        brand: BrandAccounts,
        relevance: RelevanceStage,
        raw_topic: str,
        metrics: StageMetrics | None = None,
    ) -> None:
        self.brand = brand
        self.relevance = relevance
        self.raw_topic = raw_topic
        m = metrics or stage_metrics()
        self._metrics = m
        self._received, self._passed = m.received.labels(STAGE), m.passed.labels(STAGE)
        self._duplicate = m.dropped.labels(STAGE, "duplicate")
        self._latency = m.latency.labels(STAGE)

    def __call__(self, records: Sequence[RawRecord], seen: Seen) -> BatchOutput:
        now = utc_now()
        brand, contains = self.brand, seen.contains
        sends: list[Send] = []
        marks: list[tuple[int, bytes]] = []
        fresh: list[Mention] = []
        batch_ids: set[bytes] = set()
        duplicates = 0
        self._received.inc(len(records))
        for record in records:
            result = normalize_record(record.value, record.key, brand, now)
            if isinstance(result, DeadLetter):
                result.located(self.raw_topic, record.partition, record.offset)
                self._metrics.dead_lettered.labels(STAGE, result.error).inc()
                sends.append(Send("mentions.deadletter", record.key, result.to_json()))
                continue
            mention_id = result.id.encode()
            if mention_id in batch_ids or contains(record.partition, mention_id):
                duplicates += 1
                continue
            batch_ids.add(mention_id)
            fresh.append(result)
            marks.append((record.partition, mention_id))
            sends.append(Send("mentions.normalized", mention_id, result.to_json()))
        if duplicates:
            self._duplicate.inc(duplicates)
        if fresh:
            for outcome in self.relevance.handle_mentions(fresh, now):
                if outcome.escalation is not None:
                    key, value = outcome.escalation
                    sends.append(Send("mentions.escalated", key, value))

        def on_sent() -> None:
            self._passed.inc(len(fresh))
            done = utc_now()
            observe = self._latency.observe
            for mention in fresh:
                observe(max(0.0, (done - mention.created_at).total_seconds()))

        return BatchOutput(sends=sends, marks=marks, on_sent=on_sent)


def install(pipeline: Pipeline) -> None:
    """Start the batch front stage with the app (``MENTIONFLOW_FRONT=batch`` only)."""
    settings = pipeline.settings
    if settings.front != "batch":
        return
    from pipeline.front.runner import FrontRunner

    stage = FrontStage(
        brand_accounts(settings), build_stage(pipeline), settings.topic("mentions.raw")
    )
    app = pipeline.app
    holder: list[FrontRunner] = []

    class Runner(FrontRunner):
        """The app's front runner (Faust instantiates services with loop/beacon kwargs)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(settings, stage, **kwargs)
            holder.append(self)

    app.service(Runner)

    def check() -> tuple[bool, dict[str, Any]]:
        if not holder:
            return False, {"front_ready": False}
        return holder[-1].ready, holder[-1].readiness_details()

    add_readiness_check(app, check)
    log.info("front stage: batch (aiokafka); the normalize and relevance agents are not started")
