"""Small aiokafka helpers shared by the CLI, connectors and tests."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["end_offsets", "partitions_of", "stop_consumer"]


async def stop_consumer(consumer: Any) -> None:
    """Stop an aiokafka consumer, tolerating aiokafka 0.14's cancelled-task race.

    A consumer without a group that is stopped right after start awaits an internal task
    that was cancelled before it ever ran, and the ``CancelledError`` escapes. That error
    is swallowed here unless the calling task itself is being cancelled.
    """
    await asyncio.sleep(0)
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def partitions_of(consumer: Any, topics: list[str]) -> dict[str, list[int]]:
    """Partition ids of each existing topic (a missing topic is absent from the result).

    A consumer that subscribed to nothing has no metadata yet; ``topics()`` keeps its answer
    to itself, so the cluster metadata is refreshed explicitly.
    """
    await consumer._client.force_metadata_update()
    found: dict[str, list[int]] = {}
    for topic in topics:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            found[topic] = sorted(parts)
    return found


async def end_offsets(
    client_kwargs: dict[str, Any], partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """End offsets (offset of the next record) of ``(topic, partition)`` pairs.

    Uses its own short-lived consumer without a group, so it never waits behind (or holds
    up) a Faust worker's consumer thread. The caller bounds it with a timeout: aiokafka waits
    for a partition that does not exist.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**client_kwargs, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, p in partitions])
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
    finally:
        await stop_consumer(consumer)
