"""Write-ahead journal for a stream step over a key-value table (plain Python, no Kafka).

A step reads and writes a table and sends messages. Table changelog writes reach Kafka at
once while the step's output messages are delivered with the input's offset commit, so a
crash in between leaves state that already reflects an input whose outputs were never sent;
recomputing on redelivery would then send nothing (a merge already done causes no merge).

:func:`journaled` computes a step against an :class:`Overlay` (writes buffered), stores
``{"id", "writes", "sends"}`` as ONE table value under a slot derived from the input's
topic, partition and offset, then applies the writes. On redelivery of the same input the
journal entry is found and its writes and sends are replayed verbatim, so each input's
effects are applied and sent at least once, and identically. Downstream steps are
idempotent (contacts by mention id, responses by id, handovers by source customer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

__all__ = ["SLOTS", "Overlay", "Prefixed", "Send", "journal_key", "journaled"]

#: Journal slots per topic partition: must exceed the uncommitted tail after a crash
#: (Faust commits every 1000 messages or every second).
SLOTS = 8192

#: (logical topic, key, value) to send.
Send = tuple[str, str, Any]

_DELETED = object()


class Overlay(MutableMapping[str, Any]):
    """A read-through view of ``base`` that buffers writes and deletions in ``writes``."""

    def __init__(self, base: MutableMapping[str, Any]) -> None:
        self.base = base
        self._writes: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._writes:
            value = self._writes[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self.base[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._writes[key] = value

    def __delitem__(self, key: str) -> None:
        self[key]
        self._writes[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key, value in self._writes.items():
            seen.add(key)
            if value is not _DELETED:
                yield key
        for key in self.base:
            if key not in seen:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def writes(self) -> dict[str, Any]:
        """Buffered writes; ``None`` marks a deletion."""
        return {k: (None if v is _DELETED else v) for k, v in self._writes.items()}


class Prefixed(MutableMapping[str, Any]):
    """The keys of ``base`` that start with ``prefix``, without it (several maps, one table)."""

    def __init__(self, base: MutableMapping[str, Any], prefix: str) -> None:
        self.base, self.prefix = base, prefix

    def __getitem__(self, key: str) -> Any:
        return self.base[self.prefix + key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.base[self.prefix + key] = value

    def __delitem__(self, key: str) -> None:
        del self.base[self.prefix + key]

    def __iter__(self) -> Iterator[str]:
        n = len(self.prefix)
        return (k[n:] for k in self.base if k.startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def journal_key(topic: str, partition: int, offset: int) -> str:
    return f"j:{topic}:{partition}:{offset % SLOTS}"


def journaled(
    table: MutableMapping[str, Any],
    input_id: tuple[str, int, int],
    step: Callable[[Overlay], list[Send]],
) -> tuple[list[Send], bool]:
    """Run ``step`` once per input (see module docstring). Returns the sends and whether
    they were replayed from the journal."""
    topic, partition, offset = input_id
    jkey = journal_key(topic, partition, offset)
    ident = f"{topic}:{partition}:{offset}"
    entry = table.get(jkey)
    replay = isinstance(entry, dict) and entry.get("id") == ident
    if replay:
        assert isinstance(entry, dict)
        writes: dict[str, Any] = entry["writes"]
        sends = [(s[0], s[1], s[2]) for s in entry["sends"]]
    else:
        overlay = Overlay(table)
        sends = step(overlay)
        writes = overlay.writes()
        table[jkey] = {"id": ident, "writes": writes, "sends": [list(s) for s in sends]}
    for key, value in writes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return sends, replay
