"""The whole pipeline on the real broker: sample stream -> normalise -> relevance -> join -> SLA.

The sample generator labels every record (noise, action, brand) and the persona who wrote
it, so the test checks outcomes, not implementation: no action post is lost, the brand's own
posts never escalate, one customer's action posts end up in one case, and cases left
unanswered past their target get exactly one breach.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import orjson

from connectors.replay import ReplayConnector
from pipeline.sample import generate
from pipeline.settings import Settings
from pipeline.timeutil import utc_now
from schemas import validate
from tests.support.kafka import Record, consume_until, read_all, wait_worker_consumed

REPO = Path(__file__).resolve().parents[2]


def latest_by_key(records: list[Record]) -> dict[bytes, dict[str, object]]:
    out: dict[bytes, dict[str, object]] = {}
    for record in records:
        if record.key is not None and record.value is not None:
            out[record.key] = orjson.loads(record.value)
    return out


def test_sample_stream_end_to_end(make_worker, settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Posts from the last two hours: every P1/P2 case is past its target when it arrives.
    samples = generate(1500, seed=11, end=utc_now() - timedelta(minutes=1), hours=2)
    stream = tmp_path / "sample.jsonl"
    stream.write_bytes(b"".join(s.line + b"\n" for s in samples))
    action = {s.mention_id: s for s in samples if s.category == "action"}
    brand = {s.mention_id for s in samples if s.category == "brand"}
    assert len(action) >= 10

    worker = make_worker(MENTIONFLOW_WATCHLIST=str(REPO / "config" / "watchlist.sample.yaml"))
    worker.start()
    worker.wait_ready()
    assert asyncio.run(ReplayConnector(stream, settings, resume=False).run()) == len(samples)
    flow = ("mentions.raw", "mentions.normalized", "mentions.escalated")
    late = asyncio.run(wait_worker_consumed(settings, flow, timeout_s=120))
    assert late is None, f"{late} not consumed\n{worker.tail()}"

    escalated = [
        orjson.loads(r.value or b"") for r in asyncio.run(read_all(settings, "mentions.escalated"))
    ]
    escalated_ids = {e["id"] for e in escalated}
    missed = sorted(set(action) - escalated_ids)
    if missed:
        normalized = {
            r.key.decode(): r.value
            for r in asyncio.run(read_all(settings, "mentions.normalized"))
            if r.key
        }
        dead = [r.value for r in asyncio.run(read_all(settings, "mentions.deadletter"))]
        detail = {m: normalized.get(m, b"not normalized")[:300] for m in missed[:3]}
        raise AssertionError(f"action posts not escalated: {detail}\ndead letters: {dead[:3]}")
    assert escalated_ids & brand == set(), "the brand's own posts never escalate"
    ratio = len(escalated_ids) / len(samples)
    assert 0.005 <= ratio <= 0.06, f"escalation ratio {ratio:.3f}"
    for record in escalated[:20]:
        assert validate("escalation", record) == []

    # Every escalated mention lands in exactly one live case; one persona's posts share it.
    def cases_complete(records: list[Record]) -> bool:
        live = [c for c in latest_by_key(records).values() if c["status"] != "merged"]
        placed = {m["mention_id"] for c in live for m in c["contacts"]}  # type: ignore[union-attr]
        return escalated_ids <= placed

    cases = latest_by_key(
        asyncio.run(consume_until(settings, "cases", cases_complete, timeout_s=120))
    )
    live = {k: c for k, c in cases.items() if c["status"] != "merged"}
    where: dict[str, list[bytes]] = defaultdict(list)
    for key, case in live.items():
        assert validate("case", case) == []
        for contact in case["contacts"]:  # type: ignore[union-attr]
            where[contact["mention_id"]].append(key)
    assert {m: ks for m, ks in where.items() if len(ks) > 1} == {}, "a mention in two cases"
    assert escalated_ids <= set(where), worker.tail()
    by_persona: dict[str, set[bytes]] = defaultdict(set)
    for mention_id, sample in action.items():
        if sample.persona:
            by_persona[sample.persona].update(where[mention_id])
    split = {p: ks for p, ks in by_persona.items() if len(ks) > 1}
    assert split == {}, f"customers split over several cases: {split}"

    # Unanswered old cases breach, each exactly once per clock.
    def breached_all(records: list[Record]) -> bool:
        alerts = [orjson.loads(r.value or b"") for r in records]
        return {a["case_id"] for a in alerts if a["type"] == "sla.breach"} >= {
            str(c["case_id"]) for c in live.values() if c["status"] == "open"
        }

    alerts = [
        orjson.loads(r.value or b"")
        for r in asyncio.run(consume_until(settings, "alerts", breached_all, timeout_s=120))
    ]
    breaches = Counter(a["alert_id"] for a in alerts if a["type"] == "sla.breach")
    assert breaches, "no breach at all"
    assert max(breaches.values()) == 1
    for alert in alerts[:20]:
        assert validate("alert", alert) == []
    assert worker.stop() == 0, worker.tail()
