"""Tables in RocksDB (``MENTIONFLOW_STORE=rocksdict://``) survive a worker restart.

One worker opens a case per customer, stops cleanly and starts again on the same data
directory: its tables are reopened from disk (RocksDB keeps the changelog offset it has
applied, so only the tail is replayed). Each customer's next e-mail must then join the case
opened before the restart (same case id, next version), not open a new one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from pipeline.settings import Settings
from schemas import validate
from tests.integration.test_join_flow import NO_TICKS, escalation, live_cases
from tests.support.kafka import consume_until, produce, wait_consumed

CUSTOMERS = 12


def mails(round_: int) -> list[tuple[bytes, bytes]]:
    out = []
    for n in range(CUSTOMERS):
        email = f"kundin{n}@example.de"
        record = escalation(
            f"email:r{round_}-{n}",
            "email",
            f"2026-03-{1 + n:02d}T{9 + round_:02d}:00:00Z",
            f"Lieferung fehlt, Nachricht {round_}",
            {"email": email},
        )
        out.append((f"email:{email}".encode(), record))
    return out


def by_mention(records: list[Any]) -> dict[str, dict[str, Any]]:
    """The latest case record listing each mention id."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        case = orjson.loads(record.value)
        for contact in case["contacts"]:
            mid = contact["mention_id"]
            if case["version"] >= found.get(mid, {"version": 0})["version"]:
                found[mid] = case
    return found


def test_rocksdict_tables_survive_a_restart(
    settings: Settings, make_worker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    worker = make_worker(MENTIONFLOW_STORE="rocksdict://", **NO_TICKS)
    data_dir = Path(worker.env["MENTIONFLOW_DATA_DIR"])
    worker.start()
    worker.wait_ready()
    asyncio.run(produce(settings, "mentions.escalated", mails(0)))
    first = asyncio.run(
        consume_until(settings, "cases", lambda rs: len(live_cases(rs)) == CUSTOMERS, timeout_s=120)
    )
    opened = {mid: case["case_id"] for mid, case in by_mention(first).items()}
    assert len(opened) == CUSTOMERS, worker.tail()
    assert len(set(opened.values())) == CUSTOMERS
    asyncio.run(wait_consumed(settings, "join.contacts", settings.app_id))
    assert worker.stop() == 0, worker.tail()
    # The join's case table is on disk, one RocksDB database per partition.
    stored = list(data_dir.rglob("join-cases*"))
    assert stored, sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))[:40]
    assert any((p / "CURRENT").exists() for p in stored if p.is_dir())

    worker.start()
    worker.wait_ready()
    asyncio.run(produce(settings, "mentions.escalated", mails(1)))
    records = asyncio.run(
        consume_until(
            settings,
            "cases",
            lambda rs: sum(len(c["contacts"]) for c in live_cases(rs).values()) >= 2 * CUSTOMERS,
            timeout_s=120,
        )
    )
    cases = live_cases(records)
    assert len(cases) == CUSTOMERS, worker.tail()
    latest = by_mention(records)
    for n in range(CUSTOMERS):
        before, after = f"email:r0-{n}", f"email:r1-{n}"
        assert latest[after]["case_id"] == opened[before], worker.tail()
        assert [c["mention_id"] for c in latest[after]["contacts"]] == [before, after]
        assert latest[after]["version"] >= 2
        assert validate("case", latest[after]) == []
    assert worker.stop() == 0, worker.tail()
