"""Dedupe state of the front stage: mention ids already passed on, per raw partition.

The raw topic is keyed ``source:native_id``, so every copy of a post lands in one
partition; the id's mark goes to the **same partition number** of the compacted
``normalize.seen`` changelog (key: mention id, value :func:`pipeline.dedupe.encode_seen`,
a tombstone when the id expires). A worker that is assigned raw partition ``p`` brings
``p``'s ids up to date from changelog partition ``p`` (:func:`recover`) before it processes
``p``: the state moves with the partition and survives restarts.

Two stores with one interface (:class:`Seen`):

- :class:`RocksSeenStore` (any ``MENTIONFLOW_STORE`` but ``memory://``): one RocksDB
  database per partition under ``MENTIONFLOW_DATA_DIR``, in the worker's shared RocksDB
  memory budget (:mod:`pipeline.tablestore`), with the changelog offset it has applied up
  to: a restart on the same disk reads only the changelog's tail. RAM does not grow with
  the number of ids.
- :class:`SeenStore` (``memory://``): a ``dict`` per partition, about 106 bytes per id
  (27-byte ids, measured at 1,000,000 ids); recovery reads the whole changelog partition.

Ids expire ``MENTIONFLOW_DEDUPE_HOURS`` after they were first seen; the window bounds
the state and the compacted changelog.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from pipeline.dedupe import decode_seen

__all__ = ["RocksSeenStore", "Seen", "SeenStore", "recover"]

log = logging.getLogger(__name__)


class Seen(Protocol):
    """What the front stage needs of a dedupe store (every time in epoch seconds)."""

    window_s: float

    def partitions(self) -> set[int]: ...
    def assign(self, partition: int) -> None: ...
    def forget(self, partition: int) -> None: ...
    def apply(self, partition: int, key: bytes, value: bytes | None) -> None: ...
    def contains(self, partition: int, key: bytes) -> bool: ...
    def add_many(self, partition: int, keys: Sequence[bytes], seen_at: int) -> None: ...
    def expire(self, partition: int, now: float, limit: int = 100_000) -> list[bytes]: ...
    def offset(self, partition: int) -> int | None: ...
    def set_offset(self, partition: int, offset: int) -> None: ...
    def reset(self, partition: int) -> None: ...
    def count(self, partition: int) -> int: ...
    def __len__(self) -> int: ...


class SeenStore:
    """Ids first seen within the last ``window_s`` seconds, per partition, in RAM.

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

    def add_many(self, partition: int, keys: Sequence[bytes], seen_at: int) -> None:
        ids = self._parts.setdefault(partition, {})
        for key in keys:
            ids.setdefault(key, seen_at)

    def offset(self, partition: int) -> int | None:
        """Nothing is kept across restarts: recovery always reads from the beginning."""
        return None

    def set_offset(self, partition: int, offset: int) -> None:
        pass

    def reset(self, partition: int) -> None:
        self._parts[partition] = {}

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


_KEY, _TIME, _OFFSET = b"k", b"t", b"o"


class RocksSeenStore:
    """Ids first seen within the last ``window_s`` seconds, one RocksDB per partition.

    Layout of a partition's database: ``k<id>`` -> first seen (8-byte big-endian epoch s),
    ``t<first seen><id>`` -> empty (the expiry order), ``o`` -> the changelog offset
    applied up to (exclusive). A revoked partition's database is closed, not deleted:
    when the partition comes back, only the changelog written since is read.
    """

    def __init__(self, window_s: float, directory: Path) -> None:
        self.window_s = window_s
        self.directory = directory
        self._dbs: dict[int, Any] = {}

    def _path(self, partition: int) -> Path:
        return self.directory / f"p{partition}"

    def _open(self, partition: int) -> Any:
        db = self._dbs.get(partition)
        if db is None:
            from pipeline import tablestore
            from pipeline.app import ROCKSDB_OPTIONS

            path = self._path(partition)
            path.parent.mkdir(parents=True, exist_ok=True)
            options = tablestore.SharedOptions(**ROCKSDB_OPTIONS, use_rocksdict=True)
            db = self._dbs[partition] = options.open(path)
        return db

    def partitions(self) -> set[int]:
        return set(self._dbs)

    def assign(self, partition: int) -> None:
        """Open ``partition``'s database with what it held (see :meth:`offset`)."""
        self._open(partition)

    def forget(self, partition: int) -> None:
        db = self._dbs.pop(partition, None)
        if db is not None:
            db.close()

    def reset(self, partition: int) -> None:
        """Delete everything of ``partition`` (the changelog is no longer the one it followed)."""
        self.forget(partition)
        shutil.rmtree(self._path(partition), ignore_errors=True)
        self._open(partition)

    def close(self) -> None:
        for partition in list(self._dbs):
            self.forget(partition)

    def offset(self, partition: int) -> int | None:
        raw = self._open(partition).get(_OFFSET)
        return None if raw is None else int.from_bytes(raw, "big")

    def set_offset(self, partition: int, offset: int) -> None:
        self._open(partition)[_OFFSET] = offset.to_bytes(8, "big")

    def apply(self, partition: int, key: bytes, value: bytes | None) -> None:
        db = self._open(partition)
        held = db.get(_KEY + key)
        if value is None:
            if held is not None:
                del db[_KEY + key]
                del db[_TIME + held + key]
        elif held is None:
            stamp = int(decode_seen(value)[0]).to_bytes(8, "big")
            db[_KEY + key] = stamp
            db[_TIME + stamp + key] = b""

    def contains(self, partition: int, key: bytes) -> bool:
        db = self._dbs.get(partition)
        return db is not None and db.get(_KEY + key) is not None

    def add_many(self, partition: int, keys: Sequence[bytes], seen_at: int) -> None:
        from rocksdict import WriteBatch

        db = self._open(partition)
        stamp = seen_at.to_bytes(8, "big")
        batch = WriteBatch(raw_mode=True)
        held = db.get([_KEY + key for key in keys])
        for key, old in zip(keys, held, strict=True):
            if old is None:
                batch.put(_KEY + key, stamp)
                batch.put(_TIME + stamp + key, b"")
        db.write(batch)

    def expire(self, partition: int, now: float, limit: int = 100_000) -> list[bytes]:
        from rocksdict import WriteBatch

        db = self._dbs.get(partition)
        if db is None:
            return []
        # Integer stamps: stamp < now - window  <=>  stamp < ceil(now - window).
        cutoff = max(0, math.ceil(now - self.window_s)).to_bytes(8, "big")
        gone: list[bytes] = []
        batch = WriteBatch(raw_mode=True)
        for entry in db.keys(from_key=_TIME):
            if not entry.startswith(_TIME) or entry[1:9] >= cutoff or len(gone) >= limit:
                break
            key = entry[9:]
            batch.delete(entry)
            if db.get(_KEY + key) == entry[1:9]:
                batch.delete(_KEY + key)
                gone.append(key)
        db.write(batch)
        return gone

    def count(self, partition: int) -> int:
        """About how many ids ``partition`` holds (RocksDB's estimate, two entries an id)."""
        db = self._dbs.get(partition)
        if db is None:
            return 0
        return int(db.property_int_value("rocksdb.estimate-num-keys") or 0) // 2

    def __len__(self) -> int:
        return sum(self.count(p) for p in self._dbs)


async def recover(
    client_kwargs: dict[str, Any], topic: str, partitions: Iterable[int], store: Seen
) -> int:
    """Bring ``partitions`` of ``store`` up to date from changelog ``topic``; returns the
    records read.

    Each partition is read from the offset the store has applied up to (the beginning for
    a new or in-RAM store) to the end offset taken at the start; marks written later are
    this worker's own. A store ahead of the changelog's end (the topic was recreated) is
    emptied and read from the beginning. Uses a group-less consumer of its own.
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
        pending = set()
        for tp in tps:
            start = store.offset(tp.partition)
            if start is not None and start > ends[tp]:
                log.warning(
                    "dedupe state of %s[%d] is ahead of the changelog (%d > %d): rebuilt",
                    topic,
                    tp.partition,
                    start,
                    ends[tp],
                )
                store.reset(tp.partition)
                start = None
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
            if ends[tp] > (start or 0):
                pending.add(tp)
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
        for tp in tps:
            store.set_offset(tp.partition, ends[tp])
    finally:
        await stop_consumer(consumer)
    return read
