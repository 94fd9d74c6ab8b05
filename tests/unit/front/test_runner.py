"""The front runner's batch protocol with fake Kafka clients: send, then mark, then commit;
a failed send commits nothing; records fetched across a rebalance are re-read."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from pipeline.dedupe import decode_seen
from pipeline.front.batch import BatchOutput, RawRecord, Send
from pipeline.front.runner import FrontRunner
from pipeline.front.seen import RocksSeenStore, Seen
from pipeline.settings import Settings


class Producer:
    def __init__(self, log: list[Any], fail_topic: str | None = None) -> None:
        self.log = log
        self.fail_topic = fail_topic
        self.offsets: dict[tuple[str, int], int] = {}

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        part = 0 if partition is None else partition
        offset = self.offsets.get((topic, part), 0)
        self.offsets[(topic, part)] = offset + 1
        self.log.append(("send", topic, key, partition, value))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if topic == self.fail_topic:
            future.set_exception(RuntimeError("broker gone"))
        else:
            future.set_result(SimpleNamespace(partition=part, offset=offset))
        return future

    async def flush(self) -> None:
        pass

    async def stop(self) -> None:
        self.log.append(("producer stopped",))


class Consumer:
    def __init__(self, log: list[Any], topic: str, partitions: Sequence[int]) -> None:
        self.log = log
        self.assigned = {TopicPartition(topic, p) for p in partitions}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.log.append(("seek", tp.partition, offset))

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.log.append(("seek", tp.partition, "earliest"))

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.log.append(("commit", {tp.partition: m.offset for tp, m in offsets.items()}))

    async def stop(self) -> None:
        self.log.append(("consumer stopped",))


def _process(log: list[Any]) -> Any:
    def process(records: Sequence[RawRecord], seen: Seen) -> BatchOutput:
        sends, marks = [], []
        for record in records:
            assert record.key is not None
            if seen.contains(record.partition, record.key):
                continue
            sends.append(Send("mentions.normalized", record.key, record.value or b""))
            marks.append((record.partition, record.key))
        return BatchOutput(sends, marks, on_sent=lambda: log.append(("on_sent",)))

    return process


def _runner(tmp_path: Path, log: list[Any], fail_topic: str | None = None) -> FrontRunner:
    settings = dataclasses.replace(Settings(), data_dir=tmp_path, topic_prefix="t-")
    runner = FrontRunner(settings, _process(log))
    runner._producer = Producer(log, fail_topic)
    runner._consumer = Consumer(log, settings.topic("mentions.raw"), [0, 1])
    for partition in (0, 1):
        runner.seen.assign(partition)
    runner._ready_parts = {0, 1}
    runner._assigned_once = True
    return runner


def _records() -> list[RawRecord]:
    return [
        RawRecord(0, 10, b"twitter:1", b"a"),
        RawRecord(1, 7, b"twitter:2", b"b"),
        RawRecord(0, 11, b"twitter:3", b"c"),
    ]


async def test_outputs_then_marks_then_commit(tmp_path: Path) -> None:
    log: list[Any] = []
    runner = _runner(tmp_path, log)
    assert isinstance(runner.seen, RocksSeenStore)  # the default store: RocksDB
    await runner._handle(_records())
    kinds = [(entry[0], entry[1] if entry[0] == "send" else None) for entry in log]
    assert kinds == [
        ("send", "t-mentions.normalized"),
        ("send", "t-mentions.normalized"),
        ("send", "t-mentions.normalized"),
        ("send", "t-normalize.seen"),
        ("send", "t-normalize.seen"),
        ("send", "t-normalize.seen"),
        ("on_sent", None),
        ("commit", None),
    ]
    marks = [e for e in log if e[0] == "send" and e[1] == "t-normalize.seen"]
    # Each mark in the raw record's partition, valued with that partition.
    assert {(key, part) for _, _, key, part, _ in marks} == {
        (b"twitter:1", 0),
        (b"twitter:3", 0),
        (b"twitter:2", 1),
    }
    assert all(decode_seen(value)[1] == part for *_, part, value in marks)
    assert log[-1] == ("commit", {0: 12, 1: 8})
    assert runner.seen.contains(0, b"twitter:3")
    # The store remembers how far it has applied the changelog (our own acked marks).
    assert runner.seen.offset(0) == 2
    assert runner.seen.offset(1) == 1
    # The same records again: all seen, nothing sent, still committed.
    log.clear()
    await runner._handle(_records())
    assert [e[0] for e in log] == ["on_sent", "commit"]
    runner.seen.close()  # type: ignore[attr-defined]


async def test_a_failed_send_marks_and_commits_nothing(tmp_path: Path) -> None:
    log: list[Any] = []
    runner = _runner(tmp_path, log, fail_topic="t-mentions.normalized")
    with pytest.raises(RuntimeError):
        await runner._handle(_records())
    assert [e for e in log if e[0] != "send" or e[1] != "t-mentions.normalized"] == []
    assert not runner.seen.contains(0, b"twitter:1")
    runner.seen.close()  # type: ignore[attr-defined]


def _fetched(topic: str) -> dict[TopicPartition, list[Any]]:
    def rec(offset: int) -> Any:
        return SimpleNamespace(offset=offset, key=b"k%d" % offset, value=b"v")

    return {
        TopicPartition(topic, 0): [rec(5), rec(6)],
        TopicPartition(topic, 1): [rec(40)],
    }


async def test_records_of_a_partition_not_recovered_are_read_again(tmp_path: Path) -> None:
    log: list[Any] = []
    runner = _runner(tmp_path, log)
    runner._ready_parts = {0}
    accepted = await runner._accept(_fetched(runner.raw_topic), runner._generation)
    assert [(r.partition, r.offset) for r in accepted] == [(0, 5), (0, 6)]
    assert log == [("seek", 1, 40)]
    runner.seen.close()  # type: ignore[attr-defined]


async def test_a_fetch_across_a_rebalance_is_read_again(tmp_path: Path) -> None:
    log: list[Any] = []
    runner = _runner(tmp_path, log)
    before = runner._generation
    runner._generation += 1  # a rebalance happened while getmany waited
    assert await runner._accept(_fetched(runner.raw_topic), before) == []
    assert sorted(log) == [("seek", 0, 5), ("seek", 1, 40)]
    runner.seen.close()  # type: ignore[attr-defined]


async def test_a_stale_fetch_goes_back_to_where_the_assignment_started(tmp_path: Path) -> None:
    # E.g. a switch from the Faust front: partition 0 starts at the Faust group's commit,
    # partition 1 (no commit anywhere) at the earliest record, not at the stale fetch.
    log: list[Any] = []
    runner = _runner(tmp_path, log)
    runner._starts = {0: 3, 1: None}
    before = runner._generation
    runner._generation += 1
    assert await runner._accept(_fetched(runner.raw_topic), before) == []
    assert sorted(log, key=str) == [("seek", 0, 3), ("seek", 1, "earliest")]
    runner.seen.close()  # type: ignore[attr-defined]


async def test_ready_only_when_every_assigned_partition_is_recovered(tmp_path: Path) -> None:
    runner = _runner(tmp_path, [])
    assert runner.ready
    runner._ready_parts = {0}
    assert not runner.ready
    runner._ready_parts = {0, 1}
    runner._rebalancing = True
    assert not runner.ready
    runner.seen.close()  # type: ignore[attr-defined]


async def test_stop_is_bounded_when_a_recovery_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebalance that began while the worker stops must not hang its shutdown."""
    import pipeline.front.runner as runner_module

    monkeypatch.setattr(runner_module, "STOP_WAIT_S", 0.2)
    log: list[Any] = []
    runner = _runner(tmp_path, log)
    await runner._lock.acquire()  # e.g. a changelog recovery that does not return
    await asyncio.wait_for(runner.on_stop(), 5)
    assert ("consumer stopped",) in log
    assert ("producer stopped",) in log
    runner._lock.release()


async def test_an_assignment_while_stopping_recovers_nothing(tmp_path: Path) -> None:
    log: list[Any] = []
    runner = _runner(tmp_path, log)
    runner._stopping = True
    topic = runner.raw_topic
    await asyncio.wait_for(runner.on_assigned({TopicPartition(topic, 2)}), 5)
    assert runner._ready_parts == {0, 1}
    assert not runner._lock.locked()


async def test_stop_lets_the_revoke_callback_of_the_consumer_stop_run(tmp_path: Path) -> None:
    """aiokafka's ``stop()`` runs the rebalance listener (revoke), which takes the runner's
    lock: the stop must not hold it then (a worker hung on SIGTERM this way)."""
    log: list[Any] = []
    runner = _runner(tmp_path, log)
    consumer = runner._consumer

    async def stop_with_revoke() -> None:
        await runner.on_revoked(set(consumer.assignment()))
        log.append(("consumer stopped",))

    consumer.stop = stop_with_revoke
    await asyncio.wait_for(runner.on_stop(), 5)
    assert ("consumer stopped",) in log
    assert runner._ready_parts == set()
