"""The benchmark stream: the sample generator (:mod:`pipeline.sample`) scaled to any size.

The stream is built from chunks of :func:`pipeline.sample.generate`, each with its own seed
and its own consecutive event-time slice, so the whole stream is in event-time order, ids do
not repeat across chunks and every chunk brings its own customers (some writing on two or
three channels). Mixed sources (X/Twitter tweets and DMs, Facebook posts, comments and
Messenger, e-mail) and languages (German, English); about 2% of the posts need an answer
(the sample's ``action`` category, which also counts follow-ups and direct messages).

Records are ``(key, value)`` raw-envelope bytes as the connectors publish them on
``mentions.raw`` (key ``source:native_id``). Same arguments, same bytes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

__all__ = ["BenchStream", "generate_stream", "load_or_generate"]

#: Posts per generated chunk (one seed, one time slice, 400 personas of which 100 customers).
CHUNK = 10_000
#: Event time covered by one chunk: 1,000,000 posts span about a day.
CHUNK_HOURS = 0.24


@dataclass(slots=True)
class BenchStream:
    """Keys, values and what each record is (``category``: noise/action/brand)."""

    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    customers: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def records(self) -> Iterator[tuple[bytes, bytes]]:
        return zip(self.keys, self.values, strict=True)

    def slice(self, start: int, stop: int) -> BenchStream:
        return BenchStream(
            self.keys[start:stop],
            self.values[start:stop],
            self.categories[start:stop],
            self.sources[start:stop],
            self.customers[start:stop],
        )

    def actionable_ids(self) -> list[str]:
        """Mention ids (= raw keys) of the posts that need an answer."""
        return [
            k.decode() for k, c in zip(self.keys, self.categories, strict=True) if c == "action"
        ]

    def summary(self) -> dict[str, Any]:
        """Posts, shares by category and source, customers on several channels."""
        n = len(self)
        by_category = Counter(self.categories)
        by_source = Counter(self.sources)
        channels: dict[str, set[str]] = {}
        for customer, source, category in zip(
            self.customers, self.sources, self.categories, strict=True
        ):
            if customer is not None and category == "action":
                channels.setdefault(customer, set()).add(source)
        return {
            "posts": n,
            "bytes": sum(len(v) for v in self.values),
            "actionable_share": round(by_category.get("action", 0) / n, 4) if n else 0.0,
            "categories": dict(sorted(by_category.items())),
            "sources": dict(sorted(by_source.items())),
            "customers_with_action": len(channels),
            "customers_on_several_channels": sum(1 for s in channels.values() if len(s) > 1),
        }


def generate_stream(
    posts: int, seed: int = 8, *, end: datetime | None = None, chunk: int = CHUNK
) -> BenchStream:
    """``posts`` records in event-time order ending at ``end`` (UTC, default: now, whole minute)."""
    from pipeline.sample import generate

    if posts < 0:
        raise ValueError("posts must be >= 0")
    end = (end or datetime.now(UTC).replace(second=0, microsecond=0)).astimezone(UTC)
    chunks = max(1, math.ceil(posts / chunk))
    stream = BenchStream()
    for i in range(chunks):
        size = min(chunk, posts - i * chunk)
        if size <= 0:
            break
        chunk_end = end - timedelta(hours=CHUNK_HOURS * (chunks - 1 - i))
        for record in generate(size, seed * 1_000_003 + i, end=chunk_end, hours=CHUNK_HOURS):
            assert record.mention_id is not None  # no malformed records in the bench stream
            stream.keys.append(record.mention_id.encode())
            stream.values.append(record.line)
            stream.categories.append(record.category)
            stream.sources.append(record.source)
            stream.customers.append(f"{i}:{record.persona}" if record.persona else None)
    return stream


def load_or_generate(posts: int, seed: int, cache_dir: Path | None) -> BenchStream:
    """:func:`generate_stream` ending at the current hour, cached in ``cache_dir`` (if given).

    The cache is keyed by size, seed and hour, so a rerun within the hour skips generation
    (a million posts take about two minutes to generate) and event times stay recent.
    """
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    path = None
    if cache_dir is not None:
        path = cache_dir / f"stream-{posts}-{seed}-{end:%Y%m%dT%H}.json"
        if path.exists():
            data = orjson.loads(path.read_bytes())
            return BenchStream(
                [k.encode() for k in data["keys"]],
                [v.encode() for v in data["values"]],
                data["categories"],
                data["sources"],
                data["customers"],
            )
    stream = generate_stream(posts, seed, end=end)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob("stream-*.json"):
            old.unlink()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(
            orjson.dumps(
                {
                    "keys": [k.decode() for k in stream.keys],
                    "values": [v.decode() for v in stream.values],
                    "categories": stream.categories,
                    "sources": stream.sources,
                    "customers": stream.customers,
                }
            )
        )
        tmp.replace(path)
    return stream
