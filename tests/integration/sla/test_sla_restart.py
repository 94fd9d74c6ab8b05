"""An SLA worker is stopped while cases are open and started again after their deadlines.

The breaches that fell due during the downtime are emitted once at start-up, the warnings
emitted before the stop are not repeated (their ids are in the table, or in a tick record the
restarted worker applies before it alerts), and cases answered in time get no warning or
breach.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson

from pipeline.settings import Settings
from pipeline.timeutil import format_ts, utc_now
from tests.integration.sla.test_sla_failover import case_record
from tests.support.kafka import Record, WorkerProcess, consume_until, produce

POLICY = """
defaults: {stages: ["50%"]}
policies:
  - {name: fast, match: {priority: P1}, first_response: 40s}
"""
OPEN = [f"open-{i}" for i in range(4)]
ANSWERED = [f"answered-{i}" for i in range(2)]


def alerts_of(records: list[Record]) -> list[dict[str, object]]:
    return [orjson.loads(r.value or b"{}") for r in records]


def test_breaches_due_during_downtime_are_emitted_once_at_start_up(
    make_worker: Callable[..., WorkerProcess], settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "sla.yaml"
    policy.write_text(POLICY)
    env = {"MENTIONFLOW_SLA_POLICIES": str(policy)}
    first = make_worker("--agents", "agents.sla", **env).start()
    first.wait_ready()

    # Posted 22 s ago: the 50% warning (20 s) is due at once, the breach in 18 s.
    created = utc_now() - timedelta(seconds=22)
    breach_at = time.monotonic() + 18
    cases = [(c.encode(), case_record(c, format_ts(created))) for c in OPEN + ANSWERED]
    responses = [
        (
            c.encode(),
            orjson.dumps(
                {
                    "schema_version": 1,
                    "id": f"r-{c}",
                    "case_id": c,
                    "responded_at": format_ts(created + timedelta(seconds=5)),
                    "kind": "reply",
                }
            ),
        )
        for c in ANSWERED
    ]
    asyncio.run(produce(settings, "responses", responses))
    asyncio.run(produce(settings, "cases", cases))

    def before_stop(records: list[Record]) -> bool:
        kinds = {(a["type"], a["case_id"]) for a in alerts_of(records)}
        return all(("sla.warning", c) in kinds for c in OPEN) and all(
            ("case.responded", c) in kinds for c in ANSWERED
        )

    seen = asyncio.run(consume_until(settings, "alerts", before_stop, timeout_s=60))
    assert before_stop(seen), first.tail()
    assert first.stop() == 0, first.tail()
    assert time.monotonic() < breach_at - 1, "stopped too late to test the downtime"

    # Down until the breaches have fallen due: none may appear meanwhile.
    down = asyncio.run(
        consume_until(
            settings,
            "alerts",
            lambda rs: any(a["type"] == "sla.breach" for a in alerts_of(rs)),
            timeout_s=max(breach_at - time.monotonic(), 0) + 2,
        )
    )
    assert not [a for a in alerts_of(down) if a["type"] == "sla.breach"]

    second = make_worker("--agents", "agents.sla", **env).start()
    second.wait_ready()

    def breached(records: list[Record]) -> bool:
        return {a["case_id"] for a in alerts_of(records) if a["type"] == "sla.breach"} >= set(OPEN)

    asyncio.run(consume_until(settings, "alerts", breached, timeout_s=90))
    # A little longer: a repeat would come from the restarted worker's timer.
    records = asyncio.run(consume_until(settings, "alerts", lambda r: False, timeout_s=3))
    alerts = alerts_of(records)
    counts = Counter(str(a["alert_id"]) for a in alerts)
    assert [i for i, n in counts.items() if n > 1] == [], second.tail()
    expected = {f"sla:{c}:first:{s}" for c in OPEN for s in ("warning-50", "breach")}
    expected |= {f"sla:{c}:first:responded" for c in ANSWERED}
    assert set(counts) == expected, second.tail()
    late = [float(str(a["late_seconds"])) for a in alerts if a["type"] == "sla.breach"]
    print(f"\nbreach lateness after the restart (s): {sorted(late)}")
    assert min(late) > 1.0, late  # emitted at start-up, not by the stopped worker
    assert second.stop() == 0, second.tail()
