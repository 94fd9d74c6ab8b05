"""mentions.normalized -> relevance worker -> mentions.escalated on the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from pipeline.mention import Author, Mention
from pipeline.settings import Settings
from schemas import validate
from tests.support.kafka import WorkerProcess, consume_until, produce, read_all, wait_consumed

WATCHLIST = """\
entities:
  - name: RailCo
    kind: brand
    aliases: [RailCo]
    handles: {twitter: ["RailCo"]}
  - name: SternExpress
    kind: competitor
    aliases: [SternExpress]
"""


def _mention(n: int, text: str, **kw: object) -> Mention:
    t = datetime(2026, 11, 23, 9, n % 60, tzinfo=UTC)
    return Mention(
        id=f"twitter:{n}",
        source="twitter",
        native_id=str(n),
        kind=kw.pop("kind", "post"),  # type: ignore[arg-type]
        created_at=t,
        received_at=t,
        text=text,
        author=Author(id=f"u{n % 7}", handle=f"user{n % 7}"),
        lang="en",
        **kw,  # type: ignore[arg-type]
    )


def test_escalations_are_keyed_by_customer_and_chatter_is_dropped(
    settings: Settings, make_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(WATCHLIST)
    must = {
        1: _mention(1, "RailCo outage: no trains are running at Leeds, everything cancelled"),
        2: _mention(2, "hello, I need help with my refund", kind="direct_message", is_direct=True),
        3: _mention(3, "@RailCo where can I find my booking reference?", addressed_to=["RailCo"]),
        4: _mention(4, "There is smoke in the RailCo train toilet, this is dangerous"),
    }
    never = {
        10: _mention(10, "Lovely sunset over the hills tonight"),
        11: _mention(11, "Thanks for the update", is_brand=True, kind="reply"),
        12: _mention(12, "Took SternExpress to Hamburg, nice view from the window"),
    }
    chatter = {n: _mention(n, f"Reading a book about trains, chapter {n}") for n in range(20, 60)}
    records = [(m.id.encode(), m.to_json()) for m in {**must, **never, **chatter}.values()]
    asyncio.run(produce(settings, "mentions.normalized", records))

    # The Faust relevance agent reads mentions.normalized; the batch front stage reads only
    # mentions.raw (its classification is covered by the e2e and front-stage tests).
    worker = make_worker(MENTIONFLOW_WATCHLIST=str(watchlist), MENTIONFLOW_FRONT="faust")
    worker.start()
    worker.wait_ready()
    got = asyncio.run(
        consume_until(settings, "mentions.escalated", lambda rs: len(rs) >= len(must), timeout_s=90)
    )
    assert asyncio.run(
        wait_consumed(settings, "mentions.normalized", settings.app_id, timeout_s=90)
    ), worker.tail()
    everything = asyncio.run(read_all(settings, "mentions.escalated"))
    assert worker.stop() == 0, worker.tail()

    assert len(got) >= len(must), worker.tail()
    escalated = {orjson.loads(r.value or b"")["id"]: r for r in everything}
    assert set(escalated) == {m.id for m in must.values()}
    for record in everything:
        value = orjson.loads(record.value or b"")
        assert validate("escalation", value) == []
        assert record.key == value["customer_key"].encode()
        assert value["decision"]["escalate"] is True
    p1 = orjson.loads(escalated["twitter:4"].value or b"")
    assert p1["decision"]["category"] == "safety_issue"
    assert p1["decision"]["priority"] == "P1"
