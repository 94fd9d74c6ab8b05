"""The Faust consumer with one fix: a fetch that spans a rebalance is not delivered.

faust-streaming 0.15 (``faust.transport.consumer.Consumer.getmany``) reads the consumer
generation *after* waiting for the next batch of records. A fetch issued before a rebalance
that returns after it (the worker kept the partition) hands out records from the old
position, ahead of the committed offset the recovery has just seeked to. The consumer then
sees an offset jump, books the skipped offsets as a "gap" (meant for compacted topics and
transaction markers), counts them as acknowledged and commits past records no agent ever
processed; the re-fetched records are then dropped as already read. Measured: a second worker
joining under load lost 63 of 1,947 escalations between ``mentions.escalated`` and the
contact join (``docs/reliability.md``; the same race as robinhood/faust#559).

:class:`Consumer` remembers the generation before the wait; if it changed meanwhile, the
records of stream partitions in that batch are dropped and those partitions seeked back to
their committed offsets, so the records are read again (at-least-once: a repeat, never a
gap). Changelog records in the batch go on to the table recovery untouched.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

__all__ = ["Consumer"]

log = logging.getLogger(__name__)


class Consumer(AIOKafkaConsumer):
    """The aiokafka-driver consumer; records fetched across a rebalance are re-read, and the
    wait for in-flight events at a rebalance or shutdown is bounded."""

    #: Seconds :meth:`wait_empty` waits for events that started processing to be acked.
    wait_empty_timeout_s: float = 15.0

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109
        generation = self.app.consumer_generation_id
        records, active = await super()._wait_next_records(timeout)
        if not records or self.app.consumer_generation_id == generation:
            return records, active
        # Only stream partitions (their offsets are committed); changelog records go on to
        # the table recovery, which seeks those partitions itself.
        acking = self.app.topics.acking_topics
        stale = [tp for tp in records if tp.topic in acking]
        if not stale:
            return records, active
        log.info(
            "Re-reading %d partitions fetched across a rebalance (generation %r -> %r)",
            len(stale),
            generation,
            self.app.consumer_generation_id,
        )
        for tp in stale:
            await self.seek(tp, await self.committed_offset(tp))
        return {tp: rs for tp, rs in records.items() if tp.topic not in acking}, active

    async def committed_offset(self, tp: Any) -> int:
        """The group's committed offset of ``tp`` (0 when none: the earliest record)."""
        client = self._thread._ensure_consumer()
        offset = await self._thread.call_thread(client.committed, tp)
        return int(offset) if offset is not None and offset >= 0 else 0

    async def wait_empty(self) -> None:
        """Faust's wait for in-flight events, bounded by :attr:`wait_empty_timeout_s`.

        Faust waits without a limit; an event left unacknowledged in a stream buffer made a
        worker hang on SIGTERM at "Wait for streams". Giving up is safe: only acked offsets
        are committed, so unacked events are read again by whoever owns the partition next.
        """
        deadline = time.monotonic() + self.wait_empty_timeout_s
        while not self.should_stop and self._unacked_messages:
            if time.monotonic() >= deadline:
                log.warning(
                    "%d events still unacknowledged after %.0f s; going on without them "
                    "(they are read again from the committed offsets)",
                    len(self._unacked_messages),
                    self.wait_empty_timeout_s,
                )
                break
            await self.commit()
            if not self._unacked_messages:
                break
            await self._wait_for_ack(timeout=1)
            self._clean_unacked_messages()
        await self.commit_and_end_transactions()
