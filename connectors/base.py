"""The connector base: fetch or receive, publish raw envelopes, checkpoint the cursor.

A connector implements :meth:`Connector.batches`, an async iterator of :class:`Batch`
(records plus the cursor *after* them). The base publishes each batch through the
idempotent producer, waits for the broker's acknowledgement, then saves the cursor: a
crash re-publishes at most the batch in flight, never skips one. ``stop()`` finishes the
batch in flight and returns; ``run()`` then closes cleanly.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from connectors.checkpoint import CheckpointStore
from connectors.publisher import Publisher
from connectors.retry import RetryPolicy, retry
from pipeline.envelope import RawEnvelope
from pipeline.settings import Settings

__all__ = ["Batch", "Connector", "RawRecord"]

log = logging.getLogger(__name__)


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
    ) -> None:
        self.name = name
        self.settings = settings
        self.retry_policy = retry_policy or RetryPolicy()
        self.resume = resume
        self.cursor: dict[str, Any] | None = None
        self.published = 0
        self.batches_done = 0
        self._stopping = asyncio.Event()

    @abc.abstractmethod
    def batches(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        """Yield batches from ``cursor`` on (None: from the start)."""

    def stop(self) -> None:
        """Ask the connector to finish the batch in flight and return."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def wait_or_stop(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopped first; True when stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def run(self) -> int:
        """Publish until the source is exhausted or :meth:`stop`; returns records published."""
        checkpoints = CheckpointStore(self.settings)
        async with Publisher(self.settings) as publisher:
            self.cursor = await checkpoints.load(self.name) if self.resume else None
            if self.cursor is not None:
                log.info("%s: resuming from %s", self.name, self.cursor)
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
                self.batches_done += 1
                if self.stopping:
                    break
        return self.published

    async def _publish(self, publisher: Publisher, batch: Batch) -> None:
        async def send_all() -> None:
            for record in batch.records:
                await publisher.publish(record.key, record.value)
            await publisher.flush()

        await retry(send_all, self.retry_policy, what=f"{self.name}: publish")
        self.published += len(batch.records)
