"""Consumer lag from the real broker: committed offsets of a group against end offsets."""

from __future__ import annotations

import asyncio
import time

from pipeline.lag import LagSnapshot, fetch_group_lag
from pipeline.settings import Settings
from tests.support.kafka import produce


async def _commit(settings: Settings, group: str, topic: str, upto: dict[int, int]) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from pipeline.kafkautil import stop_consumer

    consumer = AIOKafkaConsumer(
        **settings.kafka_client_kwargs(), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        offsets = {TopicPartition(topic, p): OffsetAndMetadata(o, "") for p, o in upto.items()}
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await stop_consumer(consumer)


def fetch(
    settings: Settings, group: str, topics: list[str] | None = None, exclude: tuple[str, ...] = ()
) -> LagSnapshot:
    """The lag, retried while a fresh broker has no group coordinator yet (deadline 60 s)."""
    from aiokafka.errors import GroupCoordinatorNotAvailableError

    deadline = time.monotonic() + 60
    while True:
        try:
            return asyncio.run(fetch_group_lag(settings, group, topics, exclude))
        except GroupCoordinatorNotAvailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_lag_is_end_minus_committed_per_partition(settings: Settings) -> None:
    topic = settings.topic("feedback")
    records = [(b"case-%d" % i, b"{}") for i in range(12)]
    asyncio.run(produce(settings, "feedback", records))

    untouched = fetch(settings, "nobody", [topic])
    assert sum(untouched.lag.values()) == 12
    assert {t for t, _ in untouched.lag} == {topic}

    ends = {p: n for (_, p), n in untouched.lag.items()}
    busiest = max(ends, key=lambda p: ends[p])
    asyncio.run(_commit(settings, "half-done", topic, {busiest: ends[busiest] - 1}))
    snapshot = fetch(settings, "half-done")
    assert snapshot.group == "half-done"
    assert snapshot.lag[(topic, busiest)] == 1
    assert sum(snapshot.lag.values()) == 12 - ends[busiest] + 1


def test_topics_a_group_no_longer_reads_are_left_out(settings: Settings) -> None:
    # A deployment switched to the batch front: the app's group still holds the Faust
    # normaliser's offsets on mentions.raw, which nobody in that group reads any more.
    raw, feedback = settings.topic("mentions.raw"), settings.topic("feedback")
    asyncio.run(produce(settings, "mentions.raw", [(b"twitter:%d" % i, b"{}") for i in range(5)]))
    asyncio.run(produce(settings, "feedback", [(b"case-%d" % i, b"{}") for i in range(3)]))
    asyncio.run(_commit(settings, "switched", raw, {0: 0}))
    asyncio.run(_commit(settings, "switched", feedback, {0: 0}))
    assert {t for t, _ in fetch(settings, "switched").lag} == {raw, feedback}
    assert {t for t, _ in fetch(settings, "switched", exclude=(raw,)).lag} == {feedback}
