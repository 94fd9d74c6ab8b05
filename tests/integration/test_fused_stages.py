"""Relevance fused into the normaliser (``MENTIONFLOW_FUSE_RELEVANCE=1``) on the real broker.

The same stream replayed twice (a connector re-fetching everything) must give one mention
per post on ``mentions.normalized`` and one escalation per action post, exactly as the two
separate stages do.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import orjson

from connectors.replay import ReplayConnector
from pipeline.sample import generate
from pipeline.settings import Settings
from pipeline.timeutil import utc_now
from schemas import validate
from tests.support.kafka import read_all, wait_consumed

REPO = Path(__file__).resolve().parents[2]


def test_fused_worker_normalises_and_escalates_once(  # type: ignore[no-untyped-def]
    make_worker, settings: Settings, tmp_path: Path
) -> None:
    samples = generate(800, seed=17, end=utc_now() - timedelta(minutes=1), hours=2)
    stream = tmp_path / "sample.jsonl"
    stream.write_bytes(b"".join(s.line + b"\n" for s in samples))
    action = {s.mention_id for s in samples if s.mention_id and s.category == "action"}
    brand = {s.mention_id for s in samples if s.mention_id and s.category == "brand"}
    valid = {s.mention_id for s in samples if s.mention_id and not s.malformed}
    assert len(action) >= 5

    worker = make_worker(
        MENTIONFLOW_WATCHLIST=str(REPO / "config" / "watchlist.sample.yaml"),
        MENTIONFLOW_FUSE_RELEVANCE="1",
        MENTIONFLOW_FRONT="faust",  # fusing is a mode of the Faust agents
    )
    worker.start()
    worker.wait_ready()
    for _ in range(2):
        assert asyncio.run(ReplayConnector(stream, settings, resume=False).run()) == len(samples)
    for topic in ("mentions.raw", "mentions.escalated"):
        assert asyncio.run(wait_consumed(settings, topic, settings.app_id, timeout_s=120)), (
            f"{topic} not consumed\n{worker.tail()}"
        )
    normalized = asyncio.run(read_all(settings, "mentions.normalized"))
    escalated = [
        orjson.loads(r.value or b"") for r in asyncio.run(read_all(settings, "mentions.escalated"))
    ]
    assert worker.stop() == 0, worker.tail()

    per_mention = Counter((r.key or b"").decode() for r in normalized)
    assert set(per_mention) == valid
    assert max(per_mention.values()) == 1, "a re-fetched post was normalised twice"
    times = Counter(e["id"] for e in escalated)
    assert action <= set(times), f"action posts not escalated: {sorted(action - set(times))[:3]}"
    assert max(times.values()) == 1, "a re-fetched post was escalated twice"
    assert set(times) & brand == set()
    for record in escalated:
        assert validate("escalation", record) == []
