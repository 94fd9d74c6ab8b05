"""Expiry bookkeeping for the normaliser's dedupe table.

The table maps a mention id to ``b"<epoch seconds>:<partition>"``. This index keeps, per
partition, the ids in the order they were first seen, so the agent can delete entries
older than the dedupe window a few at a time while it processes that partition: memory
stays bounded by the window, and every delete goes to the changelog partition the key
belongs to. After a restart the index is rebuilt once per partition from the table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

__all__ = ["SeenIndex", "decode_seen", "encode_seen"]


def encode_seen(seen_at: float, partition: int) -> bytes:
    return f"{int(seen_at)}:{partition}".encode()


def decode_seen(value: bytes) -> tuple[float, int]:
    """``(epoch seconds, partition)``; a value from an older format counts as partition -1."""
    text = value.decode("ascii", "replace")
    stamp, _, partition = text.partition(":")
    try:
        return float(stamp), int(partition) if partition else -1
    except ValueError:
        return 0.0, -1


class SeenIndex:
    """First-seen order of dedupe keys per partition; ``window_s`` is the dedupe window."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._queues: dict[int, deque[tuple[float, bytes]]] = {}

    def loaded(self, partition: int) -> bool:
        return partition in self._queues

    def load(self, partition: int, entries: Iterable[tuple[bytes, float]]) -> None:
        """Rebuild one partition's order from ``(key, seen_at)`` pairs (any order)."""
        self._queues[partition] = deque(sorted((ts, key) for key, ts in entries))

    def add(self, partition: int, key: bytes, seen_at: float) -> None:
        self._queues.setdefault(partition, deque()).append((seen_at, key))

    def expired(self, partition: int, now: float, limit: int = 100) -> Iterator[bytes]:
        """Pop up to ``limit`` keys of ``partition`` first seen before ``now - window_s``."""
        queue = self._queues.get(partition)
        cutoff = now - self.window_s
        while queue and limit > 0 and queue[0][0] < cutoff:
            limit -= 1
            yield queue.popleft()[1]

    def forget(self, partition: int) -> None:
        """Drop a revoked partition's order (another worker owns it now)."""
        self._queues.pop(partition, None)

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())
