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
batch is dropped and every partition is seeked back to its committed offset, so the records
are read again (at-least-once: a repeat, never a gap).
"""

from __future__ import annotations

import logging
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

__all__ = ["Consumer"]

log = logging.getLogger(__name__)


class Consumer(AIOKafkaConsumer):
    """The aiokafka-driver consumer; records fetched across a rebalance are re-read."""

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109
        generation = self.app.consumer_generation_id
        records, active = await super()._wait_next_records(timeout)
        if records and self.app.consumer_generation_id != generation:
            log.info(
                "Dropping a fetch that spans a rebalance (generation %r -> %r); "
                "seeking to the committed offsets",
                generation,
                self.app.consumer_generation_id,
            )
            await self.perform_seek()
            return {}, active
        return records, active
