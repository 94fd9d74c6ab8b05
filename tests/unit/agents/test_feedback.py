"""The feedback agent counts each answer once and dead-letters what is not feedback v1."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import orjson
from prometheus_client import REGISTRY

from agents.feedback import feedback_record
from pipeline.app import create_pipeline
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings
from schemas import validate


def answer(feedback_id: str, rating: str) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "id": feedback_id,
            "case_id": "case-7",
            "received_at": "2026-11-23T10:00:00.000Z",
            "rating": rating,
        }
    )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_feedback_record_dead_letters_bad_input() -> None:
    assert not isinstance(feedback_record(answer("a", "neutral"), b"case-7"), DeadLetter)
    bad_json = feedback_record(b"{nope", b"case-7")
    assert isinstance(bad_json, DeadLetter)
    assert bad_json.error == "invalid_json"
    bad_rating = feedback_record(answer("b", "great"), b"case-7")
    assert isinstance(bad_rating, DeadLetter)
    assert bad_rating.error == "invalid_feedback"
    assert validate("deadletter", orjson.loads(bad_rating.to_json())) == []


async def test_agent_counts_once_and_dead_letters(tmp_path: Path) -> None:
    settings = Settings(app_id="feedback-test", data_dir=tmp_path, store="memory://")
    pipeline = create_pipeline(settings, agents=("agents.feedback",))
    agent: Any = next(a for a in pipeline.app.agents.values() if a.name.endswith("feedback"))
    sent: list[tuple[bytes | None, bytes]] = []

    async def capture(*, key: bytes | None = None, value: bytes) -> None:
        sent.append((key, value))

    before_sat = sample("mentionflow_feedback_total", rating="satisfied")
    before_dup = sample("mentionflow_stage_dropped_total", stage="feedback", reason="duplicate")
    with mock.patch.object(pipeline.topic("mentions.deadletter"), "send", side_effect=capture):
        async with agent.test_context() as tested:
            await tested.put(answer("fb-1", "satisfied"), key=b"case-7")
            await tested.put(answer("fb-1", "satisfied"), key=b"case-7")  # redelivery
            await tested.put(answer("fb-2", "very_dissatisfied"), key=b"case-7")
            await tested.put(b"not json", key=b"case-7")
    assert sample("mentionflow_feedback_total", rating="satisfied") == before_sat + 1
    assert sample("mentionflow_stage_dropped_total", stage="feedback", reason="duplicate") == (
        before_dup + 1
    )
    assert len(sent) == 1
    dead = orjson.loads(sent[0][1])
    assert dead["stage"] == "feedback"
    assert dead["error"] == "invalid_json"
