"""The batch front stage on the real broker: dedupe state across restarts, partitions
shared by two workers and moved off a killed one, and the Faust front still available."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.replay import ReplayConnector
from pipeline.dedupe import decode_seen
from pipeline.front import front_group
from pipeline.settings import Settings
from tests.support.kafka import WorkerProcess, read_all, wait_consumed
from tests.support.posts import mixed


def _replay(settings: Settings, path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert asyncio.run(ReplayConnector(path, settings, resume=False).run()) == len(lines)


def _consumed(settings: Settings, worker: WorkerProcess, timeout_s: float = 90) -> None:
    group = front_group(settings.app_id)
    assert asyncio.run(wait_consumed(settings, "mentions.raw", group, timeout_s=timeout_s)), (
        worker.tail()
    )


def _normalized(settings: Settings) -> Counter[str]:
    records = asyncio.run(read_all(settings, "mentions.normalized"))
    return Counter((r.key or b"").decode() for r in records)


def test_duplicates_are_dropped_across_a_restart_from_the_changelog(
    settings: Settings, make_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    lines, valid, _ = mixed(400, malformed_share=0.0, seed=21)
    first, later = lines[:300], lines[300:]
    worker = make_worker().start()
    worker.wait_ready()
    _replay(settings, tmp_path / "a.jsonl", first)
    _consumed(settings, worker)
    assert worker.stop() == 0, worker.tail()

    # One mark per new id, in the changelog partition of the raw record it came from.
    raw = asyncio.run(read_all(settings, "mentions.raw"))
    raw_partition = {r.key: r.partition for r in raw}
    marks = asyncio.run(read_all(settings, "normalize.seen"))
    assert sorted((m.key or b"").decode() for m in marks) == sorted(valid[:300])
    for mark in marks:
        assert mark.value is not None
        assert decode_seen(mark.value)[1] == mark.partition
        if mark.key in raw_partition:  # raw key and mention id coincide for these sources
            assert raw_partition[mark.key] == mark.partition

    # The same worker again (same disk): its RocksDB state is current, nothing to read.
    worker.start()
    worker.wait_ready()
    state = worker.ready()
    assert state is not None
    assert state["front_ready"]
    assert state["front_changelog_records_read"] == 0
    assert worker.stop() == 0, worker.tail()

    # A new worker (fresh data directory): its state comes from the changelog alone.
    again = make_worker().start()
    again.wait_ready()
    state = again.ready()
    assert state is not None
    assert state["front_ready"]
    assert state["front_changelog_records_read"] == 300
    _replay(settings, tmp_path / "b.jsonl", first + later)
    _consumed(settings, again)
    assert again.stop() == 0, again.tail()

    ids = _normalized(settings)
    assert sorted(ids) == sorted(valid)
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1][:5]


def _front_partitions(worker: WorkerProcess) -> set[int] | None:
    state = worker.ready()
    return None if state is None else set(state.get("front_partitions", ()))


def test_two_workers_share_the_partitions_and_a_killed_ones_move(
    settings: Settings, make_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    lines, valid, _ = mixed(1200, malformed_share=0.0, seed=33)
    short = {"MENTIONFLOW_SESSION_TIMEOUT": "6"}
    a = make_worker(**short).start()
    b = make_worker(**short).start()
    a.wait_ready()
    b.wait_ready()
    deadline = time.monotonic() + 90
    split: tuple[set[int] | None, set[int] | None] = (None, None)
    while time.monotonic() < deadline:
        split = (_front_partitions(a), _front_partitions(b))
        if split[0] and split[1] and len(split[0] | split[1]) == settings.partitions:
            break
        time.sleep(0.5)
    left, right = split
    assert left, (split, a.tail(), b.tail())
    assert right, (split, a.tail(), b.tail())
    assert left & right == set()
    assert left | right == set(range(settings.partitions))

    _replay(settings, tmp_path / "a.jsonl", lines[:600])
    b.kill()  # possibly mid-batch: its uncommitted records are re-read by the survivor
    _replay(settings, tmp_path / "b.jsonl", lines[600:])
    _consumed(settings, a, timeout_s=120)
    deadline = time.monotonic() + 60
    while _front_partitions(a) != set(range(settings.partitions)):
        assert time.monotonic() < deadline, a.tail()
        time.sleep(0.5)
    assert a.stop() == 0, a.tail()

    ids = _normalized(settings)
    assert sorted(ids) == sorted(valid), "no post lost"
    # At-least-once: only a batch the killed worker sent but had not committed is repeated.
    assert sum(ids.values()) - len(ids) <= 2 * 1000


@pytest.mark.parametrize("front", ["faust", "batch"])
def test_either_front_normalises_each_post_once(
    front: str, settings: Settings, make_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    lines, valid, bad = mixed(300, malformed_share=0.05, seed=5)
    worker = make_worker(MENTIONFLOW_FRONT=front).start()
    worker.wait_ready()
    _replay(settings, tmp_path / "a.jsonl", lines)
    _replay(settings, tmp_path / "b.jsonl", lines)
    group = front_group(settings.app_id) if front == "batch" else settings.app_id
    assert asyncio.run(wait_consumed(settings, "mentions.raw", group, timeout_s=90)), worker.tail()
    # The group of the other front never consumed anything.
    other = settings.app_id if front == "batch" else front_group(settings.app_id)
    assert not asyncio.run(wait_consumed(settings, "mentions.raw", other, timeout_s=1))
    assert worker.stop() == 0, worker.tail()
    ids = _normalized(settings)
    assert sorted(ids) == sorted(valid)
    assert max(ids.values()) == 1
    dead = asyncio.run(read_all(settings, "mentions.deadletter"))
    assert len(dead) == 2 * len(bad)


def test_switching_from_the_faust_front_continues_where_it_stopped(
    settings: Settings, make_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    lines, valid, _ = mixed(300, malformed_share=0.0, seed=44)
    old = make_worker(MENTIONFLOW_FRONT="faust").start()
    old.wait_ready()
    _replay(settings, tmp_path / "a.jsonl", lines[:200])
    assert asyncio.run(wait_consumed(settings, "mentions.raw", settings.app_id, timeout_s=90)), (
        old.tail()
    )
    assert old.stop() == 0, old.tail()

    new = make_worker(MENTIONFLOW_FRONT="batch").start()
    new.wait_ready()
    _replay(settings, tmp_path / "b.jsonl", lines[200:])
    _consumed(settings, new)
    assert new.stop() == 0, new.tail()
    ids = _normalized(settings)
    assert sorted(ids) == sorted(valid)
    assert max(ids.values()) == 1, "the batch front re-read what the Faust front had done"
