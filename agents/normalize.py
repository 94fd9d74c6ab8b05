"""Normalise: ``mentions.raw`` -> ``mentions.normalized`` | ``mentions.deadletter``.

At-least-once with an idempotent effect: a mention already seen (redelivery, a connector
re-fetching a page) is dropped through the ``normalize-seen`` table, keyed by mention id.
The raw topic is keyed ``source:native_id``, so every copy of a post reaches the same
partition and the same table shard. Records are taken in batches (``BATCH_MAX`` within
``BATCH_WITHIN_S``); a batch's outputs are sent before its ids are marked seen and its
offsets acked: a crash in between re-sends (consumers upsert by key) rather than loses. Ids expire after
``MENTIONFLOW_DEDUPE_HOURS`` (default 72 h), so the table's size is bounded by the window.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import cast
from weakref import WeakKeyDictionary

import faust
from faust.streams import _current_event
from faust.types import EventT

from pipeline.app import Pipeline
from pipeline.brand import BrandAccounts
from pipeline.deadletter import DeadLetter
from pipeline.dedupe import SeenIndex, decode_seen, encode_seen
from pipeline.envelope import EnvelopeError, RawEnvelope
from pipeline.mention import Mention
from pipeline.metrics import stage_metrics
from pipeline.normalize import NormalizeError, normalize
from pipeline.settings import Settings
from pipeline.timeutil import utc_now

__all__ = [
    "BATCH_MAX",
    "BATCH_WITHIN_S",
    "STAGE",
    "Downstream",
    "as_current",
    "attach_downstream",
    "install",
    "normalize_record",
]

STAGE = "normalize"
log = logging.getLogger(__name__)


def normalize_record(
    value: bytes | None, key: bytes | None, brand: BrandAccounts, now: datetime
) -> Mention | DeadLetter:
    """Raw bytes to a mention, or a dead letter saying why not. Never raises."""
    payload = value or b""
    try:
        envelope = RawEnvelope.from_json(payload)
        return normalize(envelope, brand, now=now)
    except EnvelopeError as exc:
        return DeadLetter.of(STAGE, "invalid_envelope", str(exc), payload, key=key, failed_at=now)
    except NormalizeError as exc:
        return DeadLetter.of(STAGE, exc.code, exc.reason, payload, key=key, failed_at=now)
    except Exception as exc:
        log.exception("normaliser failed unexpectedly")
        return DeadLetter.of(
            STAGE, "internal_error", f"{type(exc).__name__}: {exc}", payload, key=key, failed_at=now
        )


def brand_accounts(settings: Settings) -> BrandAccounts:
    """The brand's own accounts from the watch list (none configured: nothing is marked)."""
    if settings.watchlist is None:
        return BrandAccounts()
    from pipeline.watchlist import load_watchlist

    return BrandAccounts.from_mapping(load_watchlist(settings.watchlist).brand_handles())


#: Most raw records the agent takes at once, and how long it waits to fill a batch (s).
BATCH_MAX = 500
BATCH_WITHIN_S = 0.02

#: What a fused downstream stage does with each batch of new mentions (in stream order).
Downstream = Callable[[Sequence[Mention]], Awaitable[None]]
_downstream: WeakKeyDictionary[faust.App, list[Downstream]] = WeakKeyDictionary()


@contextmanager
def as_current(event: EventT[bytes]) -> Iterator[None]:
    """Make ``event`` Faust's current event for the block.

    A table write takes its changelog partition (and, with RocksDB, its store partition)
    from the current event; inside a batch that is the batch's last event, so each write
    is made as its own event's.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def attach_downstream(pipeline: Pipeline, handler: Downstream) -> bool:
    """Run ``handler`` inside the normaliser's agent on every batch of new mentions.

    A batch holds the new (not duplicate) mentions of up to ``BATCH_MAX`` raw records, in
    stream order. It is awaited after they are sent to ``mentions.normalized`` and before
    their ids are marked seen, so a crash in between re-runs both (at-least-once).
    Returns False when ``pipeline`` has no normaliser (install ``agents.normalize`` first).
    """
    handlers = _downstream.get(pipeline.app)
    if handlers is None:
        return False
    handlers.append(handler)
    return True


def install(pipeline: Pipeline) -> None:
    app, settings = pipeline.app, pipeline.settings
    if settings.front == "batch":  # agents.front does this stage (and keeps no table)
        if "agents.front" not in pipeline.installed:
            log.warning(
                "MENTIONFLOW_FRONT=batch: agents.normalize installs nothing; the normaliser "
                "runs in agents.front (add it to --agents, or set MENTIONFLOW_FRONT=faust)"
            )
        return
    downstream: list[Downstream] = []
    _downstream[app] = downstream
    raw = pipeline.topic("mentions.raw")
    normalized = pipeline.topic("mentions.normalized")
    deadletter = pipeline.topic("mentions.deadletter")
    brand = brand_accounts(settings)
    metrics = stage_metrics()
    seen = app.Table(
        "normalize-seen",
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        help="mention ids already normalised (value: b'<first seen, epoch s>:<partition>')",
    )
    index = SeenIndex(settings.dedupe_hours * 3600)

    def expire(partition: int, now: float) -> None:
        if not index.loaded(partition):
            index.load(
                partition,
                (
                    (key, stamp)
                    for key, value in seen.items()
                    for stamp, part in (decode_seen(value),)
                    if part == partition
                ),
            )
        for key in index.expired(partition, now):
            value = seen.get(key)
            if value is not None and decode_seen(value)[0] < now - index.window_s:
                del seen[key]

    # The metric children, looked up once rather than per record.
    received, passed = metrics.received.labels(STAGE), metrics.passed.labels(STAGE)
    duplicate, latency = metrics.dropped.labels(STAGE, "duplicate"), metrics.latency.labels(STAGE)

    @app.agent(raw, name=STAGE)
    async def normalize_agent(stream: faust.StreamT[bytes]) -> None:
        # Batches: Faust acks a batch's events only after the loop body has run for them.
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)
        async for events in batches:
            now = utc_now()
            stamp = now.timestamp()
            fresh: list[tuple[EventT[bytes], Mention, bytes]] = []
            keys: set[bytes] = set()
            received.inc(len(events))
            for event in events:
                message = event.message
                with as_current(event):  # up to 100 expired ids a record: keeps up with inserts
                    expire(message.partition, stamp)
                result = normalize_record(event.value, event.key, brand, now)
                if isinstance(result, DeadLetter):
                    result.located(message.topic, message.partition, message.offset)
                    metrics.dead_lettered.labels(STAGE, result.error).inc()
                    await deadletter.send(key=event.key, value=result.to_json())
                    continue
                mention_key = result.id.encode()
                if mention_key in keys or mention_key in seen:
                    duplicate.inc()
                    continue
                keys.add(mention_key)
                fresh.append((event, result, mention_key))
            if not fresh:
                continue
            for _, mention, mention_key in fresh:
                await normalized.send(key=mention_key, value=mention.to_json())
            mentions = [mention for _, mention, _ in fresh]
            for handler in downstream:
                await handler(mentions)
            # Marked seen only now, after every send: a crash before re-sends, never loses.
            for event, _mention, mention_key in fresh:
                partition = event.message.partition
                with as_current(event):  # the changelog and store partition of the mark
                    seen[mention_key] = encode_seen(stamp, partition)
                index.add(partition, mention_key, stamp)
            passed.inc(len(fresh))
            done = utc_now()
            for mention in mentions:
                latency.observe(max(0.0, (done - mention.created_at).total_seconds()))
