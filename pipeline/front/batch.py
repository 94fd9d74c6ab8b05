"""What one batch of the front stage is, without Kafka: records in, sends and marks out.

A batch is processed as a whole: its outputs are sent and acknowledged, then its new ids
are marked seen, then its offsets (:func:`next_offsets`) are committed. A crash anywhere
before the commit re-processes the whole batch (at-least-once; downstream dedupes on the
mention id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["BatchOutput", "RawRecord", "Send", "first_offsets", "next_offsets"]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One consumed record of the raw topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Send:
    """One record to produce: logical topic name (``mentions.normalized``, ...), key, value."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass(slots=True)
class BatchOutput:
    """The result of processing a batch.

    ``sends`` in stream order; ``marks`` the ``(raw partition, mention id)`` pairs to mark
    seen once every send is acknowledged; ``on_sent`` runs after that (metrics that must only
    count what was delivered).
    """

    sends: list[Send] = field(default_factory=list)
    marks: list[tuple[int, bytes]] = field(default_factory=list)
    on_sent: Callable[[], None] | None = None


def next_offsets(records: Iterable[RawRecord]) -> dict[int, int]:
    """Offset to commit per partition: one past the highest offset processed."""
    out: dict[int, int] = {}
    for record in records:
        if record.offset >= out.get(record.partition, -1):
            out[record.partition] = record.offset + 1
    return out


def first_offsets(records: Iterable[RawRecord]) -> dict[int, int]:
    """Lowest offset per partition: where to seek back to re-read a batch not committed."""
    out: dict[int, int] = {}
    for record in records:
        if record.partition not in out or record.offset < out[record.partition]:
            out[record.partition] = record.offset
    return out
