"""Throughput of the SLA tick: ``python -m pipeline.sla.bench [--cases N] [--policies FILE]``.

Builds ``N`` open cases (mixed priorities and channels, one to three contacts, a third
answered), schedules them in a :class:`DeadlineHeap`, then measures the work the agent does per
due case when the timer fires: JSON-decode the state, collect due alerts, encode them and the
state, and reschedule (no Kafka). Also measures applying a case record (the ``cases`` agent's
per-record work). Prints cases/s; single core, pure Python.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from pipeline.sla.alerts import collect
from pipeline.sla.clock import CaseState, apply_case, apply_response, next_deadline
from pipeline.sla.policy import PolicySet, load_policies
from pipeline.sla.schedule import DeadlineHeap
from pipeline.timeutil import format_ts

__all__ = ["BenchResult", "bench", "main"]

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CHANNELS = ("twitter", "facebook", "email", "reddit", "instagram")


@dataclass(frozen=True)
class BenchResult:
    cases: int
    apply_per_s: float
    tick_per_s: float
    alerts: int

    def __str__(self) -> str:
        return (
            f"{self.cases} cases: apply {self.apply_per_s:,.0f} case records/s, "
            f"tick {self.tick_per_s:,.0f} due cases/s ({self.alerts} alerts)"
        )


def _records(
    n: int, rng: random.Random
) -> list[tuple[dict[str, object], dict[str, object] | None]]:
    out = []
    for i in range(n):
        start = T0 + timedelta(seconds=rng.randrange(0, 6 * 3600))
        contacts = [
            {
                "mention_id": f"m{i}-{k}",
                "created_at": format_ts(start + timedelta(minutes=7 * k)),
                "source": rng.choice(CHANNELS),
                "url": f"https://example.org/{i}/{k}",
            }
            for k in range(rng.randint(1, 3))
        ]
        case = {
            "case_id": f"case-{i}",
            "version": 1,
            "status": "open",
            "priority": rng.choice(("P1", "P2", "P3", "P4")),
            "queue": rng.choice(("social", "billing")),
            "channels": [contacts[0]["source"]],
            "customer": f"c{i}",
            "contacts": contacts,
        }
        response: dict[str, object] | None = None
        if i % 3 == 0:
            response = {
                "id": f"r{i}",
                "case_id": f"case-{i}",
                "kind": "reply",
                "responded_at": format_ts(start + timedelta(minutes=rng.randint(1, 90))),
            }
        out.append((case, response))
    return out


def bench(cases: int = 20_000, policies: PolicySet | None = None, seed: int = 7) -> BenchResult:
    policies = policies or PolicySet()
    records = _records(cases, random.Random(seed))
    began = time.perf_counter()
    table: dict[str, bytes] = {}
    heap = DeadlineHeap()
    for case, response in records:
        state = apply_case(None, case)
        if response is not None:
            apply_response(state, response)
        table[state.case_id] = orjson.dumps(state.to_dict())
        heap.schedule(state.case_id, next_deadline(state, policies))
    apply_s = time.perf_counter() - began

    # Fire the timer far enough ahead that every case has something due.
    now = T0 + timedelta(days=3)
    began = time.perf_counter()
    ticked = alerts = 0
    for case_id in list(heap.pop_due(now)):
        state = CaseState.from_dict(orjson.loads(table[case_id]))
        for alert in collect(state, policies, now):
            orjson.dumps(alert)
            alerts += 1
        table[case_id] = orjson.dumps(state.to_dict())
        heap.schedule(case_id, next_deadline(state, policies))
        ticked += 1
    tick_s = time.perf_counter() - began
    return BenchResult(cases, cases / apply_s, ticked / tick_s, alerts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.sla.bench", description=__doc__)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--policies", type=Path, help="policy YAML (default: built-in, 24/7)")
    args = parser.parse_args(argv)
    policies = load_policies(args.policies) if args.policies else PolicySet()
    print(bench(args.cases, policies))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
