"""The ceiling: a raw aiokafka consume -> produce passthrough with no processing.

What Python on Kafka can move on this machine; the pipeline is measured against it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from pipeline.kafkautil import stop_consumer
from pipeline.settings import Settings

__all__ = ["PassthroughResult", "passthrough"]


@dataclass(frozen=True, slots=True)
class PassthroughResult:
    records: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


async def passthrough(
    settings: Settings, source: str, sink: str, expected: int, *, group: str, timeout_s: float = 600
) -> PassthroughResult:
    """Consume ``expected`` records of ``source`` and produce each unchanged to ``sink``.

    Same client settings as the pipeline (acks=all, idempotent producer, committed offsets);
    timing starts at the first record received and ends when the last send is acknowledged.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        settings.topic(source),
        **settings.kafka_client_kwargs(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        **settings.kafka_client_kwargs(),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await consumer.start()
    await producer.start()
    moved = 0
    started: float | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while moved < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            futures = []
            for records in batches.values():
                for record in records:
                    futures.append(
                        await producer.send(
                            settings.topic(sink), value=record.value, key=record.key
                        )
                    )
            if futures:
                if started is None:
                    started = time.monotonic()
                await asyncio.gather(*futures)
                await consumer.commit()
                moved += len(futures)
        return PassthroughResult(moved, time.monotonic() - (started or time.monotonic()))
    finally:
        await producer.stop()
        await stop_consumer(consumer)
