"""Connector cursors in the compacted ``connectors.checkpoints`` topic (key: connector name).

A restarted connector resumes from its last saved cursor, on any machine. Saving happens
after the publisher's flush, so a crash re-publishes at most one batch (at-least-once) and
never skips one.
"""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.kafkautil import partitions_of, stop_consumer
from pipeline.settings import Settings
from pipeline.timeutil import format_ts, utc_now

__all__ = ["CheckpointStore"]

TOPIC = "connectors.checkpoints"


class CheckpointStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic(TOPIC)

    async def load(self, name: str) -> dict[str, Any] | None:
        """The latest cursor saved for ``name`` (None: start from the beginning)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_kwargs(), enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        latest: dict[str, Any] | None = None
        try:
            partitions = (await partitions_of(consumer, [self.topic])).get(self.topic, [])
            if not partitions:
                return None
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            remaining = {tp for tp in tps if ends[tp] > 0}
            wanted = name.encode()
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        if record.key == wanted:
                            latest = None if record.value is None else orjson.loads(record.value)
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await stop_consumer(consumer)
        if latest is None:
            return None
        cursor = latest.get("cursor")
        return cursor if isinstance(cursor, dict) else None

    async def save(self, publish: Any, name: str, cursor: dict[str, Any]) -> None:
        """Write ``cursor`` through ``publish`` (a started :class:`Publisher`) and wait for it."""
        record = {"connector": name, "cursor": cursor, "updated_at": format_ts(utc_now())}
        await publish.publish(name.encode(), orjson.dumps(record), topic=self.topic)
        await publish.flush()
