"""Hostile input on the real broker and the 100,000-record soak of the normaliser.

- Garbage raw envelopes (the seeded hostile corpus: broken JSON, deep nesting, invalid
  UTF-8, wrong types, broken MIME, a null value) published to ``mentions.raw`` all land
  on ``mentions.deadletter`` with their reason and original bytes, and the worker keeps
  normalising the good posts published after them.
- ``make soak``: 100,000 hostile records through the normaliser with the memory bound
  (CI runs 2,000 of them in tests/unit/fuzz/test_corpus.py).
"""

from __future__ import annotations

import asyncio
import base64
import re
import urllib.request

import orjson
import pytest

from agents.normalize import normalize_record
from pipeline.brand import BrandAccounts
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings
from pipeline.timeutil import utc_now
from schemas import validate
from tests.support.kafka import consume_until, produce, wait_consumed, worker_group
from tests.support.posts import email, tweet, webhook
from tests.unit.fuzz.corpus import hostile_records, run_corpus

#: Errors that do not depend on the wall clock (bad_timestamp does: "a day after now").
CLOCK_FREE = {
    "invalid_envelope",
    "invalid_payload",
    "missing_field",
    "unsupported_type",
    "bad_mime",
}
#: Below the broker's and producer's default 1 MB message limit.
MAX_RECORD = 900_000


def garbage(count: int) -> list[bytes]:
    """Distinct hostile records the normaliser dead-letters whatever the clock says."""
    out: dict[bytes, None] = {}
    for _, raw in hostile_records(4242, count * 3):
        if len(raw) > MAX_RECORD or raw in out:
            continue
        result = normalize_record(raw, None, BrandAccounts(), utc_now())
        if isinstance(result, DeadLetter) and result.error in CLOCK_FREE:
            out[raw] = None
        if len(out) == count:
            break
    return list(out)


def test_garbage_is_dead_lettered_and_good_posts_still_flow(
    settings: Settings,
    make_worker,  # type: ignore[no-untyped-def]
) -> None:
    bad = garbage(300)
    assert len(bad) == 300
    good = [f(i) for i in range(40) for f in (tweet, webhook, email)]

    worker = make_worker()
    worker.start()
    worker.wait_ready()
    asyncio.run(
        produce(
            settings,
            "mentions.raw",
            [(b"garbage:" + str(i).encode(), raw) for i, raw in enumerate(bad)],
        )
    )
    asyncio.run(produce(settings, "mentions.raw", [(env.key, env.to_json()) for env in good]))

    normalized = asyncio.run(
        consume_until(
            settings, "mentions.normalized", lambda rs: len(rs) >= len(good), timeout_s=120
        )
    )
    dead = asyncio.run(
        consume_until(
            settings, "mentions.deadletter", lambda rs: len(rs) >= len(bad), timeout_s=120
        )
    )
    assert asyncio.run(
        wait_consumed(settings, "mentions.raw", worker_group(settings, "mentions.raw") or "")
    ), worker.tail()

    # Every good post published after the garbage was normalised.
    assert len(normalized) == len(good), worker.tail()
    expected = {f"{env.source}:{env.native_id}" for env in good}
    assert {r.key.decode() for r in normalized if r.key} == expected

    # Every garbage record is on the dead-letter topic, with its reason and its bytes.
    assert len(dead) == len(bad), worker.tail()
    letters = {}
    for record in dead:
        letter = orjson.loads(record.value or b"")
        assert validate("deadletter", letter) == []
        letters[base64.b64decode(letter["payload_b64"])] = letter
    for i, raw in enumerate(bad):
        letter = letters.get(raw)
        assert letter is not None, f"record {i} lost: {raw[:80]!r}"
        assert letter["error"] in CLOCK_FREE, letter
        assert letter["reason"]
        assert letter["stage"] == "normalize"
        assert letter["topic"] == settings.topic("mentions.raw")
        assert letter["offset"] is not None
        assert letter["key"] == f"garbage:{i}"
    assert worker.process is not None
    assert worker.process.poll() is None, "the worker died on hostile input"
    assert "internal_error" not in worker.tail(400)

    # Personal data: the good posts carried addresses (kunde<i>@example.de) and handles
    # (@fan<i>, user<i>), the garbage annie@example.org: none in metrics or INFO logs.
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as r:
        exposition = r.read().decode()
    assert "mentionflow_stage_received_total" in exposition
    personal = re.compile(r"kunde\d+@example\.de|annie@example\.org|@fan\d+|\buser\d+\b")
    assert personal.findall(exposition) == []
    info_lines = [
        line
        for line in worker.log.read_text(errors="replace").splitlines()
        if '"level":"DEBUG"' not in line
    ]
    assert info_lines
    leaked = [line[:200] for line in info_lines if personal.search(line)]
    assert leaked == []
    assert worker.stop() == 0, worker.tail()


@pytest.mark.soak
@pytest.mark.timeout(3600)  # ~5 min alone on one core; slower on a shared machine
def test_one_hundred_thousand_hostile_records_with_bounded_memory() -> None:
    report = run_corpus(seed=20261123, count=100_000)
    print("\nhostile corpus, 100,000 records:", report)
    assert sum(report["outcomes"].values()) == 100_000
    assert report["peak_growth_bytes"] < 256 * 1024 * 1024, report
    assert report["retained_blocks"] < 5_000, report
