"""Erasure ("forget this customer"): which compacted records mention a customer, pure logic.

Kafka deletes single records only in compacted topics, by a tombstone (same key, null
value) that compaction later turns into the removal of every older record of that key.
:func:`customer_needles` turns what the operator knows (``email:jane@example.org``, a
bare address, ``twitter:42``) into the byte strings that identify the customer in stored
records: the key as the pipeline writes it (hashed when ``MENTIONFLOW_HASH_CUSTOMER_KEYS``
is on) and, in clear mode, the bare value (the address inside a stored contact).
:class:`ErasurePlan` collects the case ids of the customer's cases (from ``cases`` values)
(and their contacts' mention ids) and the records to tombstone in every compacted topic; ``mentionflow forget`` reads the
topics and publishes the plan (docs/security.md).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.customer import is_hashed
from pipeline.identity.keys import normalize_keys

__all__ = ["ErasurePlan", "customer_needles", "mentions"]

#: A needle shorter than this would match unrelated records (``twitter:1`` is fine, ``1`` not).
MIN_NEEDLE = 5


def customer_needles(keys: list[str]) -> list[bytes]:
    """The byte strings that identify the customer of ``keys`` in stored records."""
    needles: list[str] = []
    for raw in keys:
        raw = raw.strip()
        if "@" in raw and ":" not in raw:
            raw = f"email:{raw}"  # a bare address
        if not raw:
            continue
        key = normalize_keys([raw])[0]
        needles.append(key)
        if not is_hashed(key):
            value = key.partition(":")[2].lstrip("@")
            if len(value) >= MIN_NEEDLE and key.split(":", 1)[0] in ("email", "phone"):
                needles.append(value)
    return [n.encode() for n in dict.fromkeys(needles) if len(n) >= MIN_NEEDLE]


@functools.lru_cache(maxsize=1024)
def _token(needle: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![\w.+-])" + re.escape(needle) + rb"(?![\w-])", re.IGNORECASE)


def mentions(data: bytes | None, needle: bytes) -> bool:
    """``needle`` occurs in ``data`` as a whole token (``case-1`` does not match ``case-12``),
    case-insensitively (addresses are)."""
    if not data or needle.lower() not in data.lower():
        return False
    return _token(needle).search(data) is not None


@dataclass
class ErasurePlan:
    """The records to tombstone: ``(topic, partition, key)``, plus what led to them."""

    needles: list[bytes]
    case_ids: set[str] = field(default_factory=set)
    mention_ids: set[str] = field(default_factory=set)
    tombstones: dict[tuple[str, int, bytes], None] = field(default_factory=dict)

    def add_case(self, value: bytes | None) -> None:
        """Learn the case ids of the customer from a ``cases`` record value."""
        if value is None or not any(mentions(value, n) for n in self.needles):
            return
        try:
            case: Any = orjson.loads(value)
        except orjson.JSONDecodeError:
            return
        if not isinstance(case, dict) or not isinstance(case.get("case_id"), str):
            return
        self.case_ids.add(case["case_id"])
        for contact in case.get("contacts") or []:
            if isinstance(contact, dict) and isinstance(contact.get("mention_id"), str):
                self.mention_ids.add(contact["mention_id"])

    def all_needles(self) -> list[bytes]:
        """Customer keys, then the customer's case ids and mention ids (the dedupe index
        and the join's journals are keyed by those)."""
        ids = sorted(self.case_ids | self.mention_ids)
        return [*self.needles, *(i.encode() for i in ids if len(i) >= MIN_NEEDLE)]

    def consider(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> bool:
        """Plan a tombstone for this record when its key or value names the customer or
        one of their cases; True when planned. Records without a key cannot be
        tombstoned (compacted topics require keys)."""
        if key is None:
            return False
        needles = self.all_needles()
        if any(mentions(key, n) for n in needles) or any(mentions(value, n) for n in needles):
            self.tombstones[(topic, partition, key)] = None
            return True
        return False

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for topic, _, _ in self.tombstones:
            out[topic] = out.get(topic, 0) + 1
        return out
