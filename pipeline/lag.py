"""Consumer lag per topic and partition: committed offsets of a group against end offsets.

:func:`compute_lag` is the pure part; :func:`fetch_group_lag` asks the cluster (an admin
client for the committed offsets, a group-less consumer for the end offsets);
:class:`LagCollector` serves the latest snapshot as ``mentionflow_consumer_lag`` and drops
it when it grows stale (a worker that lost leadership stops reporting instead of
reporting old numbers).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.settings import Settings

__all__ = ["LagCollector", "LagSnapshot", "compute_lag", "fetch_group_lag"]

TopicPartition = tuple[str, int]


def compute_lag(
    committed: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    beginnings: Mapping[TopicPartition, int] | None = None,
) -> dict[TopicPartition, int]:
    """Messages not yet committed, per partition of ``ends``.

    A partition without a commit (missing or negative offset) lags from its first
    retained offset (``beginnings``, default 0). Never negative.
    """
    lag: dict[TopicPartition, int] = {}
    for tp, end in ends.items():
        offset = committed.get(tp, -1)
        if offset < 0:
            offset = (beginnings or {}).get(tp, 0)
        lag[tp] = max(0, end - offset)
    return lag


@dataclass(frozen=True, slots=True)
class LagSnapshot:
    group: str
    lag: dict[TopicPartition, int] = field(default_factory=dict)
    taken_at: float = field(default_factory=time.time)


async def fetch_group_lag(
    settings: Settings,
    group: str,
    topics: list[str] | None = None,
    exclude: Collection[str] = (),
) -> LagSnapshot:
    """Lag of consumer group ``group`` on ``topics`` (default: every topic it committed on),
    leaving out the topics in ``exclude`` (full names: offsets a group keeps from a reader
    it no longer runs)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as KafkaTP
    from aiokafka.admin import AIOKafkaAdminClient

    from pipeline.kafkautil import partitions_of, stop_consumer

    admin = AIOKafkaAdminClient(**settings.kafka_client_kwargs())
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False
    )
    await admin.start()
    await consumer.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        committed = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
        names = sorted(
            set(topics if topics is not None else {t for t, _ in committed}) - set(exclude)
        )
        parts = await partitions_of(consumer, names)
        tps = [KafkaTP(topic, p) for topic, ps in parts.items() for p in ps]
        if not tps:
            return LagSnapshot(group)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        lag = compute_lag(
            committed,
            {(tp.topic, tp.partition): o for tp, o in ends.items()},
            {(tp.topic, tp.partition): o for tp, o in begins.items()},
        )
        return LagSnapshot(group, lag)
    finally:
        await stop_consumer(consumer)
        await admin.close()


class LagCollector(Collector):
    """Serves the latest :class:`LagSnapshot` of each group (a worker has two with the batch
    front stage); a group's snapshot is dropped once it is older than ``max_age_s``."""

    def __init__(self, max_age_s: float = 90.0) -> None:
        self.max_age_s = max_age_s
        self.snapshots: dict[str, LagSnapshot] = {}

    @property
    def snapshot(self) -> LagSnapshot | None:
        """The most recent snapshot of any group (None before the first)."""
        return max(self.snapshots.values(), key=lambda s: s.taken_at, default=None)

    def update(self, snapshot: LagSnapshot) -> None:
        self.snapshots[snapshot.group] = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "mentionflow_consumer_lag",
            "Messages behind the end offset, per consumer group, topic and partition",
            labels=["group", "topic", "partition"],
        )
        updated = GaugeMetricFamily(
            "mentionflow_consumer_lag_updated_timestamp_seconds",
            "Unix time of the lag snapshot",
            labels=["group"],
        )
        for snap in sorted(self.snapshots.values(), key=lambda s: s.group):
            if time.time() - snap.taken_at > self.max_age_s:
                continue
            for (topic, partition), value in sorted(snap.lag.items()):
                lag.add_metric([snap.group, topic, str(partition)], value)
            updated.add_metric([snap.group], snap.taken_at)
        yield lag
        yield updated
