"""Dedupe state of the front stage: mention ids already passed on, per raw partition.

The raw topic is keyed ``source:native_id``, so every copy of a post lands in one
partition; the id's mark goes to the **same partition number** of the compacted
``normalize.seen`` changelog (key: mention id, value :func:`pipeline.dedupe.encode_seen`,
a tombstone when the id expires). A worker that is assigned raw partition ``p`` rebuilds
``p``'s ids by reading changelog partition ``p`` to its end offset (:func:`recover`) before
it processes ``p``: the state moves with the partition and survives restarts.

The ids are held in RAM, one ``dict`` per partition (id -> first seen, epoch seconds,
insertion order = first-seen order, so expiry pops from the front): about 120 bytes per
id with ~27-byte ids (docs/performance.md has the measurement at 1,000,000 ids). The
window (``MENTIONFLOW_DEDUPE_HOURS``) bounds both the RAM and the compacted changelog.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pipeline.dedupe import decode_seen

__all__ = ["SeenStore", "recover"]

log = logging.getLogger(__name__)


class SeenStore:
    """Ids first seen within the last ``window_s`` seconds, per partition.

    Not thread-safe; every method is O(1) per id except :meth:`expire` (O(expired ids)).
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._parts: dict[int, dict[bytes, int]] = {}

    def partitions(self) -> set[int]:
        return set(self._parts)

    def assign(self, partition: int) -> None:
        """Start ``partition`` empty (its ids are then loaded with :meth:`apply`)."""
        self._parts[partition] = {}

    def forget(self, partition: int) -> None:
        """Drop a revoked partition (another worker owns it now)."""
        self._parts.pop(partition, None)

    def apply(self, partition: int, key: bytes, value: bytes | None) -> None:
        """One changelog record: a mark (first one wins) or a tombstone (``None``)."""
        ids = self._parts.setdefault(partition, {})
        if value is None:
            ids.pop(key, None)
        elif key not in ids:
            ids[key] = int(decode_seen(value)[0])

    def contains(self, partition: int, key: bytes) -> bool:
        ids = self._parts.get(partition)
        return ids is not None and key in ids

    def add(self, partition: int, key: bytes, seen_at: int) -> None:
        """Mark ``key`` seen at ``seen_at`` (epoch s); a key already there keeps its time."""
        self._parts.setdefault(partition, {}).setdefault(key, seen_at)

    def expire(self, partition: int, now: float, limit: int = 100_000) -> list[bytes]:
        """Remove and return up to ``limit`` ids of ``partition`` first seen before
        ``now - window_s`` (the caller writes their tombstones)."""
        ids = self._parts.get(partition)
        if not ids:
            return []
        cutoff = now - self.window_s
        gone: list[bytes] = []
        for key, seen_at in ids.items():
            # Insertion order is first-seen order: stop at the first id still in the window.
            if seen_at >= cutoff or len(gone) >= limit:
                break
            gone.append(key)
        for key in gone:
            del ids[key]
        return gone

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._parts.values())

    def count(self, partition: int) -> int:
        return len(self._parts.get(partition, ()))


async def recover(
    client_kwargs: dict[str, Any], topic: str, partitions: Iterable[int], store: SeenStore
) -> int:
    """Rebuild ``partitions`` of ``store`` from changelog ``topic``; returns records read.

    Reads each partition from its beginning to the end offset taken at the start (marks
    written later are this worker's own). Uses a group-less consumer of its own.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from pipeline.kafkautil import stop_consumer

    parts = sorted(set(partitions))
    for partition in parts:
        store.assign(partition)
    if not parts:
        return 0
    consumer = AIOKafkaConsumer(
        **client_kwargs,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=16 * 2**20,
        max_partition_fetch_bytes=4 * 2**20,
    )
    await consumer.start()
    read = 0
    try:
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                apply = store.apply
                for record in records:
                    if record.offset < ends[tp] and record.key is not None:
                        apply(tp.partition, record.key, record.value)
                        read += 1
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await stop_consumer(consumer)
    return read
