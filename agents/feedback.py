"""Feedback: ``feedback`` -> satisfaction metrics | ``mentions.deadletter``.

Counts each survey answer once by rating (``mentionflow_feedback_total``); the share
satisfied against the target is computed by Prometheus (``mentionflow:satisfaction:ratio1d``)
so that every worker's share adds up. A redelivered answer is dropped through the
``feedback-seen`` table (keyed by feedback id; the topic is keyed by case id, so all
answers about a case land in one partition).
"""

from __future__ import annotations

import logging

import faust
import orjson

from pipeline.app import Pipeline
from pipeline.deadletter import DeadLetter
from pipeline.logs import correlate
from pipeline.metrics import pipeline_metrics
from pipeline.satisfaction import Feedback, FeedbackError, parse_feedback
from pipeline.timeutil import utc_now

__all__ = ["STAGE", "feedback_record", "install"]

STAGE = "feedback"
log = logging.getLogger(__name__)


def feedback_record(value: bytes | None, key: bytes | None) -> Feedback | DeadLetter:
    """Raw bytes to a feedback answer, or a dead letter saying why not. Never raises."""
    payload = value or b""
    try:
        return parse_feedback(orjson.loads(payload))
    except orjson.JSONDecodeError as exc:
        return DeadLetter.of(STAGE, "invalid_json", str(exc), payload, key=key, failed_at=utc_now())
    except FeedbackError as exc:
        return DeadLetter.of(STAGE, exc.code, exc.reason, payload, key=key, failed_at=utc_now())


def install(pipeline: Pipeline) -> None:
    app, settings = pipeline.app, pipeline.settings
    source = pipeline.topic("feedback")
    deadletter = pipeline.topic("mentions.deadletter")
    metrics = pipeline_metrics()
    seen = app.Table(
        "feedback-seen",
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        help="feedback ids already counted (value: rating)",
    )

    @app.agent(source, name=STAGE)
    async def feedback_agent(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            metrics.stage.received.labels(STAGE).inc()
            result = feedback_record(event.value, event.key)
            if isinstance(result, DeadLetter):
                result.located(message.topic, message.partition, message.offset)
                metrics.stage.dead_lettered.labels(STAGE, result.error).inc()
                await deadletter.send(key=event.key, value=result.to_json())
                continue
            feedback_key = result.id.encode()
            if feedback_key in seen:
                metrics.stage.dropped.labels(STAGE, "duplicate").inc()
                continue
            seen[feedback_key] = result.rating.encode()
            metrics.feedback_received(result.rating)
            metrics.stage.passed.labels(STAGE).inc()
            with correlate(case_id=result.case_id):
                log.debug("feedback %s counted: %s", result.id, result.rating)
