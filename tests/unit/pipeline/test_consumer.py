"""pipeline.consumer: stream records fetched across a rebalance are dropped and re-read."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from faust.transport.drivers.aiokafka import Consumer as FaustConsumer

from pipeline.app import create_app
from pipeline.consumer import Consumer
from pipeline.settings import Settings


class TP(NamedTuple):
    topic: str
    partition: int


STREAM, CHANGELOG = TP("raw", 0), TP("app-seen-changelog", 0)


def consumer_with(monkeypatch: pytest.MonkeyPatch, generations: list[int]) -> Any:
    """A Consumer whose fetch returns one stream and one changelog record while the
    generation moves as given; committed offset of the stream partition: 5."""
    consumer: Any = Consumer.__new__(Consumer)
    app = SimpleNamespace(
        consumer_generation_id=generations[0], topics=SimpleNamespace(acking_topics={"raw"})
    )
    consumer.__dict__["app"] = app
    consumer.seeks = []

    async def fetch(self: Any, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109
        app.consumer_generation_id = generations[1]
        return {STREAM: ["r35"], CHANGELOG: ["c7"]}, {STREAM}

    async def seek(tp: Any, offset: int) -> None:
        consumer.seeks.append((tp.topic, offset))

    async def committed_offset(tp: Any) -> int:
        return 5

    monkeypatch.setattr(FaustConsumer, "_wait_next_records", fetch)
    consumer.__dict__["seek"] = seek
    consumer.__dict__["committed_offset"] = committed_offset
    return consumer


async def test_a_fetch_within_one_generation_is_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = consumer_with(monkeypatch, [3, 3])
    assert await consumer._wait_next_records(1.0) == (
        {STREAM: ["r35"], CHANGELOG: ["c7"]},
        {STREAM},
    )
    assert consumer.seeks == []


async def test_stream_records_fetched_across_a_rebalance_are_dropped_and_reread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = consumer_with(monkeypatch, [3, 4])
    records, _ = await consumer._wait_next_records(1.0)
    assert records == {CHANGELOG: ["c7"]}, "changelog records go on to the recovery"
    assert consumer.seeks == [("raw", 5)], "the stream partition is read again from the commit"


def test_the_app_builds_this_consumer() -> None:
    assert isinstance(create_app(Settings()).consumer, Consumer)


def waiting_consumer(unacked: set[str], acks_after: int | None) -> Any:
    """A Consumer with ``unacked`` in flight; they are acked after ``acks_after`` waits."""
    consumer: Any = Consumer.__new__(Consumer)
    consumer.__dict__["_unacked_messages"] = unacked
    consumer.calls = []
    consumer.wait_empty_timeout_s = 0.05

    async def commit() -> None:
        consumer.calls.append("commit")

    async def wait_for_ack(timeout: float) -> None:  # noqa: ASYNC109
        consumer.calls.append("wait")
        if acks_after is not None and consumer.calls.count("wait") >= acks_after:
            unacked.clear()

    async def commit_and_end_transactions() -> None:
        consumer.calls.append("final")

    consumer.__dict__.update(
        commit=commit,
        _wait_for_ack=wait_for_ack,
        _clean_unacked_messages=lambda: None,
        commit_and_end_transactions=commit_and_end_transactions,
    )
    consumer.__dict__.update(_stopped=asyncio.Event(), _crashed=asyncio.Event())
    return consumer


async def test_wait_empty_returns_once_the_events_are_acked() -> None:
    consumer = waiting_consumer({"m1"}, acks_after=2)
    consumer.wait_empty_timeout_s = 60.0
    await consumer.wait_empty()
    assert consumer.calls[-1] == "final"
    assert consumer.calls.count("wait") == 2


async def test_wait_empty_gives_up_after_its_timeout_and_still_commits() -> None:
    consumer = waiting_consumer({"stuck"}, acks_after=None)
    await consumer.wait_empty()
    assert consumer.calls[-1] == "final"
    assert consumer._unacked_messages == {"stuck"}
