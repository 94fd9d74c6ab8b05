"""Two SLA workers on the real broker; one is killed while cases are open.

Every breach that falls due is emitted exactly once (also those that fell due while the
killed worker's partitions had no owner), and cases answered in time get no warning or breach,
also those whose answer arrives while their partition has no owner: the survivor must apply
the answers waiting in the partitions it takes over before it warns (the catch-up gate).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson

from pipeline.settings import Settings
from pipeline.timeutil import format_ts, utc_now
from tests.support.kafka import Record, WorkerProcess, consume_until, produce

POLICY = """
defaults: {stages: ["50%"]}
policies:
  - {name: fast, match: {priority: P1}, first_response: 20s, next_response: 20s}
"""
OPEN = [f"open-{i}" for i in range(8)]
ANSWERED = [f"answered-{i}" for i in range(8)]
#: Answered while the killed worker's partitions have no owner (partitions 0 and 1 of 4, so
#: some wait for the survivor whichever worker owned them).
LATE = ANSWERED[1::2]


def case_record(case_id: str, created: str) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "case_id": case_id,
            "version": 1,
            "status": "open",
            "merged_into": None,
            "customer": f"twitter:{case_id}",
            "priority": "P1",
            "queue": "social",
            "channels": ["twitter"],
            "categories": [],
            "entities": [],
            "opened_at": created,
            "updated_at": created,
            "last_customer_at": created,
            "evidence": [],
            "contacts": [
                {
                    "mention_id": f"m-{case_id}",
                    "source": "twitter",
                    "kind": "post",
                    "created_at": created,
                    "url": None,
                    "from_customer": True,
                }
            ],
        }
    )


def test_killed_worker_loses_no_breach_and_doubles_none(
    make_worker: Callable[..., WorkerProcess], settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "sla.yaml"
    policy.write_text(POLICY)
    env = {"MENTIONFLOW_SLA_POLICIES": str(policy)}
    first = make_worker("--agents", "agents.sla", **env).start()
    second = make_worker("--agents", "agents.sla", **env).start()
    first.wait_ready()
    second.wait_ready()
    # Both in the group with partitions of their own, so the kill really orphans some cases.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
        (w.ready() or {}).get("assigned_partitions", 0) > 0 for w in (first, second)
    ):
        time.sleep(0.2)

    created = utc_now()
    answered_at = format_ts(created + timedelta(seconds=5))
    cases = [(c.encode(), case_record(c, format_ts(created))) for c in OPEN + ANSWERED]
    responses = {
        c: (
            c.encode(),
            orjson.dumps(
                {
                    "schema_version": 1,
                    "id": f"r-{c}",
                    "case_id": c,
                    "responded_at": answered_at,
                    "kind": "reply",
                }
            ),
        )
        for c in ANSWERED
    }
    asyncio.run(produce(settings, "cases", cases))
    asyncio.run(produce(settings, "responses", [responses[c] for c in ANSWERED if c not in LATE]))

    # Kill one worker as soon as the clock state of every case is in the changelog.
    changelog = f"{settings.app_id}-sla-clocks-changelog"
    every = {c.encode() for c in OPEN + ANSWERED}
    seen = asyncio.run(
        consume_until(
            replace(settings, topic_prefix=""),
            changelog,
            lambda records: every <= {r.key for r in records},
            timeout_s=60,
        )
    )
    assert every <= {r.key for r in seen}, "cases not processed"
    first.kill()
    killed_at = time.monotonic()
    asyncio.run(produce(settings, "responses", [responses[c] for c in LATE]))

    def done(records: list[Record]) -> bool:
        alerts = [orjson.loads(r.value or b"{}") for r in records]
        breached = {a["case_id"] for a in alerts if a["type"] == "sla.breach"}
        responded = {a["case_id"] for a in alerts if a["type"] == "case.responded"}
        return breached >= set(OPEN) and responded >= set(ANSWERED)

    records = asyncio.run(consume_until(settings, "alerts", done, timeout_s=120))
    # A little longer: a duplicate would come from the survivor's own timer.
    records = asyncio.run(consume_until(settings, "alerts", lambda r: False, timeout_s=3))
    alerts = [orjson.loads(r.value or b"{}") for r in records]
    assert all(
        r.key and r.key.decode() == a["alert_id"] for r, a in zip(records, alerts, strict=True)
    )
    counts = Counter(a["alert_id"] for a in alerts)
    assert [i for i, n in counts.items() if n > 1] == [], second.tail()
    expected = {f"sla:{c}:first:{s}" for c in OPEN for s in ("warning-50", "breach")}
    expected |= {f"sla:{c}:first:responded" for c in ANSWERED}
    assert set(counts) == expected, second.tail()
    late = [a["late_seconds"] for a in alerts if a["type"] == "sla.breach"]
    print(
        f"\nbreach lateness (s): {sorted(late)}; survivor took over after "
        f"{time.monotonic() - killed_at:.1f} s"
    )
    # The killed worker's breaches fell due while nobody owned them: emitted after takeover.
    assert max(late) > 5, late
    assert second.stop() == 0, second.tail()
