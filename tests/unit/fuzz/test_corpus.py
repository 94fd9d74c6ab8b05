"""The seeded hostile corpus, short: 2,000 records (``make soak`` runs 100,000, see
tests/integration/test_hostile_input.py). Every record is a valid mention or a dead letter
with its reason and original bytes, and the normaliser's memory stays bounded (peak RSS,
and allocated blocks kept from one chunk of records to the last)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.fuzz.corpus import hostile_records, run_corpus

#: A multi-megabyte record is parsed, cleaned and cut: a few copies of it, never more.
PEAK_LIMIT = 256 * 1024 * 1024
#: Allocated blocks the normaliser may keep after its first 1,000 records (caches filling);
#: a leak of one object per record would exceed it within the run.
RETAINED_LIMIT = 2_000


def test_corpus_is_deterministic() -> None:
    first = [raw for _, raw in hostile_records(7, 200)]
    assert first == [raw for _, raw in hostile_records(7, 200)]
    assert first != [raw for _, raw in hostile_records(8, 200)]


def test_two_thousand_hostile_records() -> None:
    report = run_corpus(seed=20261123, count=2000)
    outcomes = report["outcomes"]
    assert sum(outcomes.values()) == 2000
    # The corpus reaches every outcome, not only the envelope check.
    assert outcomes.get("mention", 0) > 100
    assert {"dead:invalid_envelope", "dead:invalid_payload", "dead:bad_mime"} <= set(outcomes)
    assert report["peak_growth_bytes"] < PEAK_LIMIT, report
    assert report["retained_blocks"] < RETAINED_LIMIT, report


def test_the_memory_bound_catches_a_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    import agents.normalize

    real = agents.normalize.normalize_record
    kept: list[object] = []

    def leaky(*args: Any) -> Any:
        result = real(*args)
        kept.append((result, object()))
        return result

    monkeypatch.setattr(agents.normalize, "normalize_record", leaky)
    report = run_corpus(seed=1, count=3000)
    assert report["retained_blocks"] > RETAINED_LIMIT, report
