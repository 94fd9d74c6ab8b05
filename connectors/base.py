"""The connector base: fetch or receive, publish raw envelopes, checkpoint the cursor.

A connector implements :meth:`Connector.batches`, an async iterator of :class:`Batch`
(records plus the cursor *after* them). The base publishes each batch through the
idempotent producer, waits for the broker's acknowledgement, then saves the cursor: a
crash re-publishes at most the batch in flight, never skips one. ``stop()`` finishes the
batch in flight and returns; ``run()`` then closes cleanly.

A batch may also carry dead letters (a page that is not JSON, an item without an id): they
go to ``mentions.deadletter`` with the reason in the same flush, before the checkpoint, so
bad input is never lost silently and never stops the connector. Receivers (webhooks) put
futures in ``Batch.acks``; the base resolves them once the batch is durable, so the HTTP
answer to the sender means "stored".

The publisher and checkpoint store can be injected (tests use in-memory fakes); by default
they are the Kafka ones.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from connectors.checkpoint import CheckpointStore
from connectors.metrics import ConnectorMetrics, connector_metrics
from connectors.publisher import Publisher
from connectors.retry import PermanentError, RetryPolicy, Stopping, retry
from pipeline.deadletter import DeadLetter
from pipeline.envelope import RawEnvelope
from pipeline.metrics import label
from pipeline.settings import Settings

__all__ = [
    "Batch",
    "CheckpointBackend",
    "Connector",
    "PollingConnector",
    "RawRecord",
    "Sink",
]

log = logging.getLogger(__name__)

DEADLETTER_TOPIC = "mentions.deadletter"


class Sink(Protocol):
    """What the base needs of a publisher (:class:`connectors.publisher.Publisher`)."""

    async def publish(self, key: bytes | None, value: bytes, topic: str | None = None) -> None: ...

    async def flush(self) -> None: ...


class CheckpointBackend(Protocol):
    """What the base needs of a cursor store (:class:`connectors.checkpoint.CheckpointStore`)."""

    async def load(self, name: str) -> dict[str, Any] | None: ...

    async def save(self, publish: Any, name: str, cursor: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class RawRecord:
    """A record for ``mentions.raw`` as bytes (a replayed line may be deliberately broken)."""

    key: bytes | None
    value: bytes

    @classmethod
    def of(cls, envelope: RawEnvelope) -> RawRecord:
        return cls(envelope.key, envelope.to_json())


@dataclass(slots=True)
class Batch:
    records: list[RawRecord]
    cursor: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: Resolved (result None) once the batch is published and checkpointed.
    acks: list[asyncio.Future[None]] = field(default_factory=list)


class Connector(abc.ABC):
    """Base of every connector. ``name`` is the instance name (and the checkpoint key)."""

    source: str = "unknown"

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        retry_policy: RetryPolicy | None = None,
        resume: bool = True,
        publisher: Sink | None = None,
        checkpoints: CheckpointBackend | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.retry_policy = retry_policy or RetryPolicy()
        self.resume = resume
        self.cursor: dict[str, Any] | None = None
        self.published = 0
        self.dead_lettered = 0
        self.batches_done = 0
        self._publisher = publisher
        self._checkpoints = checkpoints
        self._metrics = connector_metrics(registry)
        self._stopping = asyncio.Event()

    @abc.abstractmethod
    def batches(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        """Yield batches from ``cursor`` on (None: from the start)."""

    # -- helpers for subclasses -------------------------------------------------------

    @property
    def labels(self) -> dict[str, str]:
        return {"connector": label(self.name), "source": label(self.source)}

    @property
    def metrics(self) -> ConnectorMetrics:
        return self._metrics

    def envelope(
        self,
        type: str,
        payload: Any,
        native_id: str,
        context: dict[str, Any] | None = None,
        *,
        source: str | None = None,
    ) -> RawRecord:
        """A record of one platform item wrapped in a raw envelope (counted as fetched)."""
        self._metrics.fetched.labels(**self.labels).inc()
        return RawRecord.of(
            RawEnvelope.wrap(
                source or self.source,
                type,
                payload,
                connector=self.name,
                native_id=native_id,
                context=context,
            )
        )

    def dead_letter(self, error: str, reason: str, payload: bytes) -> DeadLetter:
        """A dead letter of this connector (stage ``connector.<source>``)."""
        self._metrics.dead_lettered.labels(**self.labels, reason=error).inc()
        log.warning("%s: dead letter (%s): %s", self.name, error, reason)
        return DeadLetter.of(
            f"connector.{self.source}", error, reason, payload, key=self.name.encode()
        )

    def count_error(self, kind: str) -> None:
        self._metrics.errors.labels(**self.labels, kind=kind).inc()

    def mark_alive(self) -> None:
        """Set the last-success gauge (the "connector silent" alert watches it)."""
        self._metrics.last_success.labels(**self.labels).set(time.time())

    def count_rate_limit(self, seconds: float) -> None:
        self._metrics.rate_limit_waits.labels(**self.labels).inc()
        self._metrics.rate_limit_wait_seconds.labels(**self.labels).inc(max(0.0, seconds))

    # -- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the connector to finish the batch in flight and return."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def wait_or_stop(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopped first; True when stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            return False
        return True

    async def run(self) -> int:
        """Publish until the source is exhausted or :meth:`stop`; returns records published.

        :meth:`close` is called once when the run ends, however it ends.
        """
        checkpoints: CheckpointBackend = self._checkpoints or CheckpointStore(self.settings)
        try:
            if self._publisher is not None:
                return await self._run(self._publisher, checkpoints)
            async with Publisher(self.settings) as publisher:
                return await self._run(publisher, checkpoints)
        finally:
            await self.close()

    async def close(self) -> None:
        """Release what the connector holds (its HTTP client); the base holds nothing."""
        return None

    async def _run(self, publisher: Sink, checkpoints: CheckpointBackend) -> int:
        self.cursor = await checkpoints.load(self.name) if self.resume else None
        if self.cursor is not None:
            log.info("%s: resuming from %s", self.name, self.cursor)
        try:
            await self._loop(publisher, checkpoints)
        except Stopping:
            log.info("%s: stopped while waiting for the platform", self.name)
        except Exception:
            self.count_error("fatal")
            raise
        return self.published

    async def _loop(self, publisher: Sink, checkpoints: CheckpointBackend) -> None:
        async for batch in self.batches(self.cursor):
            await self._publish(publisher, batch)
            if batch.cursor is not None:
                cursor = batch.cursor
                await retry(
                    functools.partial(checkpoints.save, publisher, self.name, cursor),
                    self.retry_policy,
                    what=f"{self.name}: checkpoint",
                )
                self.cursor = cursor
            for ack in batch.acks:
                if not ack.done():
                    ack.set_result(None)
            self.batches_done += 1
            self.mark_alive()
            if self.stopping:
                break

    async def _publish(self, publisher: Sink, batch: Batch) -> None:
        dead_topic = self.settings.topic(DEADLETTER_TOPIC)

        async def send_all() -> None:
            for record in batch.records:
                await publisher.publish(record.key, record.value)
            for letter in batch.dead_letters:
                await publisher.publish(letter.id.encode(), letter.to_json(), topic=dead_topic)
            await publisher.flush()

        await retry(send_all, self.retry_policy, what=f"{self.name}: publish")
        self.published += len(batch.records)
        self.dead_lettered += len(batch.dead_letters)
        if batch.records:
            self._metrics.published.labels(**self.labels).inc(len(batch.records))


class PollingConnector(Connector):
    """A connector that polls its platform every ``poll_interval_s`` seconds.

    Subclasses implement :meth:`poll`: one pass from ``cursor``, yielding batches whose
    cursor is safe to resume from. With ``once`` the connector stops after one pass (tests,
    cron-style runs). A pass that fails after the HTTP client's retries is counted, logged
    and retried at the next interval: the connector keeps going.
    """

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        poll_interval_s: float = 60.0,
        once: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, settings, **kwargs)
        self.poll_interval_s = poll_interval_s
        self.once = once

    @abc.abstractmethod
    def poll(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        """One pass over the platform from ``cursor``."""

    async def batches(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        from connectors.http import MalformedResponse

        while not self.stopping:
            try:
                async for batch in self.poll(cursor):
                    if batch.cursor is not None:
                        cursor = batch.cursor
                    yield batch
                    if self.stopping:
                        return
                self.mark_alive()  # a pass with nothing new (a 304) is a success too
            except MalformedResponse as exc:
                letter = self.dead_letter("malformed_response", exc.reason, exc.body)
                yield Batch([], None, dead_letters=[letter])
            except (
                PermanentError
            ):  # revoked token, wrong password, missing scope: a person must act
                raise
            except Exception as exc:  # a pass that failed after retries: try again later
                if self.stopping:
                    return
                if self.once:
                    raise
                self.count_error("poll")
                log.warning(
                    "%s: poll failed (%s: %s); next try in %.0f s",
                    self.name,
                    type(exc).__name__,
                    exc,
                    self.poll_interval_s,
                )
            if self.once or await self.wait_or_stop(self.poll_interval_s):
                return
