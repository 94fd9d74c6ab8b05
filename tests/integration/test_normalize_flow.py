"""Replay -> normalise on the real broker: exactly once per valid post, every bad one dead-lettered."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from pathlib import Path

import orjson

from connectors.replay import ReplayConnector
from pipeline.settings import Settings
from schemas import validate
from tests.support.kafka import consume_until, wait_consumed, worker_group
from tests.support.posts import mixed


def test_replayed_twice_every_valid_post_once_every_bad_one_dead_lettered(
    settings: Settings,
    make_worker,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    lines, valid_ids, bad = mixed(600, malformed_share=0.05)
    assert len(bad) == 30
    replay_file = tmp_path / "raw.jsonl"
    replay_file.write_bytes(b"\n".join(lines) + b"\n")

    worker = make_worker()
    worker.start()
    worker.wait_ready()
    for _ in range(2):
        connector = ReplayConnector(replay_file, settings, resume=False)
        assert asyncio.run(connector.run()) == len(lines)

    assert asyncio.run(
        wait_consumed(settings, "mentions.raw", worker_group(settings, "mentions.raw") or "")
    ), worker.tail()
    normalized = asyncio.run(
        consume_until(
            settings, "mentions.normalized", lambda rs: len(rs) >= len(valid_ids), timeout_s=60
        )
    )
    dead = asyncio.run(
        consume_until(
            settings, "mentions.deadletter", lambda rs: len(rs) >= 2 * len(bad), timeout_s=60
        )
    )

    ids = Counter(r.key.decode() for r in normalized if r.key)
    assert sorted(ids) == sorted(valid_ids), "every valid post normalised"
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1][:5]
    for record in normalized[:50]:
        mention = orjson.loads(record.value or b"")
        assert validate("mention", mention) == []
        assert mention["id"] == record.key.decode()  # type: ignore[union-attr]

    letters = [orjson.loads(r.value or b"") for r in dead]
    by_payload = {base64.b64decode(letter["payload_b64"]): letter for letter in letters}
    for line, reason in bad:
        assert line in by_payload, f"no dead letter for {line[:60]!r}"
        letter = by_payload[line]
        assert reason.lower() in letter["reason"].lower(), letter
        assert validate("deadletter", letter) == []
        assert letter["topic"] == settings.topic("mentions.raw")
    assert worker.stop() == 0, worker.tail()
