"""Breach timing under load (``make soak``): thousands of deadlines within seconds.

Reports the lateness of every warning and breach (emitted_at - due_at) and checks the p99
against the 1 s target. Marked ``soak``: it is a measurement, not part of ``make test``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from pipeline.settings import Settings
from pipeline.timeutil import format_ts, utc_now
from tests.integration.sla.test_sla_failover import case_record
from tests.support.kafka import Record, WorkerProcess, consume_until, produce

CASES = 3000


@pytest.mark.soak
def test_breach_p99_within_one_second_under_load(
    make_worker: Callable[..., WorkerProcess], settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "sla.yaml"
    policy.write_text(
        'defaults: {stages: ["50%"]}\n'
        "policies:\n  - {name: load, match: {priority: P1}, first_response: 40s}\n"
    )
    worker = make_worker("--agents", "agents.sla", MENTIONFLOW_SLA_POLICIES=str(policy)).start()
    worker.wait_ready()
    rng = random.Random(3)
    now = utc_now()
    cases = [
        (
            f"load-{i}".encode(),
            case_record(f"load-{i}", format_ts(now - timedelta(seconds=rng.uniform(0, 10)))),
        )
        for i in range(CASES)
    ]
    began = time.monotonic()
    asyncio.run(produce(settings, "cases", cases))
    produced_s = time.monotonic() - began

    def done(records: list[Record]) -> bool:
        return sum(1 for r in records if r.key and r.key.endswith(b":breach")) >= CASES

    records = asyncio.run(consume_until(settings, "alerts", done, timeout_s=180))
    alerts = [orjson.loads(r.value or b"{}") for r in records]
    late = sorted(a["late_seconds"] for a in alerts if a["type"] in ("sla.warning", "sla.breach"))
    assert len(late) == 2 * CASES, worker.tail()
    p50, p99 = late[len(late) // 2], late[int(len(late) * 0.99)]
    print(
        f"\n{CASES} cases produced in {produced_s:.1f} s; {len(late)} warnings+breaches; "
        f"lateness p50 {p50:.3f} s, p99 {p99:.3f} s, max {late[-1]:.3f} s"
    )
    assert p99 < 1.0
    assert worker.stop() == 0, worker.tail()
