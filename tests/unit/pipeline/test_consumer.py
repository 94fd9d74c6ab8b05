"""pipeline.consumer: a fetch that spans a rebalance is dropped and re-read from the commit."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import Consumer as FaustConsumer

from pipeline.app import create_app
from pipeline.consumer import Consumer
from pipeline.settings import Settings


def consumer_with(monkeypatch: pytest.MonkeyPatch, generations: list[int]) -> Any:
    """A Consumer whose fetch returns one record while the generation moves as given."""
    consumer: Any = Consumer.__new__(Consumer)
    app = SimpleNamespace(consumer_generation_id=generations[0])
    consumer.__dict__["app"] = app
    consumer.seeks = 0

    async def fetch(self: Any, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109
        app.consumer_generation_id = generations[1]
        return {"tp": ["record"]}, {"tp"}

    async def perform_seek() -> None:
        consumer.seeks += 1

    monkeypatch.setattr(FaustConsumer, "_wait_next_records", fetch)
    consumer.__dict__["perform_seek"] = perform_seek
    return consumer


async def test_a_fetch_within_one_generation_is_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = consumer_with(monkeypatch, [3, 3])
    assert await consumer._wait_next_records(1.0) == ({"tp": ["record"]}, {"tp"})
    assert consumer.seeks == 0


async def test_a_fetch_across_a_rebalance_is_dropped_and_seeks_to_the_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = consumer_with(monkeypatch, [3, 4])
    assert await consumer._wait_next_records(1.0) == ({}, {"tp"})
    assert consumer.seeks == 1


def test_the_app_builds_this_consumer() -> None:
    assert isinstance(create_app(Settings()).consumer, Consumer)
