"""Relevance fused into the normaliser (``MENTIONFLOW_FUSE_RELEVANCE``): same records out."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

import agents.relevance
import schemas
from agents.normalize import brand_accounts, normalize_record
from agents.relevance import build_stage, fuse_from_env
from connectors.replay import record_for_line
from pipeline.app import create_pipeline
from pipeline.mention import Mention
from pipeline.relevance import metrics
from pipeline.relevance.budget import EscalationBudget
from pipeline.sample import generate
from pipeline.settings import Settings, SettingsError
from pipeline.timeutil import utc_now

REPO = Path(__file__).resolve().parents[3]
TOPICS = ("mentions.normalized", "mentions.escalated", "mentions.deadletter")


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    reg = CollectorRegistry()
    metrics.set_registry(reg)
    yield reg
    metrics.set_registry(None)


def _settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(
        Settings(),
        front="faust",  # these tests are about the Faust agents
        watchlist=REPO / "config" / "watchlist.sample.yaml",
        store="memory://",
        data_dir=tmp_path,
    )


def test_fuse_from_env() -> None:
    assert fuse_from_env({}) is False
    assert fuse_from_env({"MENTIONFLOW_FUSE_RELEVANCE": "0"}) is False
    assert fuse_from_env({"MENTIONFLOW_FUSE_RELEVANCE": " On "}) is True
    assert fuse_from_env({"MENTIONFLOW_FUSE_RELEVANCE": "1"}) is True
    with pytest.raises(SettingsError, match="MENTIONFLOW_FUSE_RELEVANCE"):
        fuse_from_env({"MENTIONFLOW_FUSE_RELEVANCE": "maybe"})


def test_the_relevance_agent_consumes_normalized_unless_fused(
    tmp_path: Path, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = ("agents.normalize", "agents.relevance")
    assert "relevance" in create_pipeline(_settings(tmp_path), agents=both).app.agents
    monkeypatch.setenv("MENTIONFLOW_FUSE_RELEVANCE", "1")
    assert "relevance" not in create_pipeline(_settings(tmp_path), agents=both).app.agents
    # No normaliser in this worker: fusion is impossible, the agent consumes as usual.
    alone = create_pipeline(_settings(tmp_path), agents=("agents.relevance",))
    assert "relevance" in alone.app.agents


async def test_fused_normaliser_writes_what_the_two_stages_write(
    tmp_path: Path, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTIONFLOW_FUSE_RELEVANCE", "1")
    # A fixed threshold: the adaptive budget moves per decision, and the fused stage decides
    # a batch at once, so only a fixed one gives the same decisions record by record.
    monkeypatch.setattr(
        agents.relevance,
        "EscalationBudget",
        lambda target_rate: EscalationBudget(
            target_rate=target_rate, min_threshold=0.5, max_threshold=0.5
        ),
    )
    settings = _settings(tmp_path)
    pipeline = create_pipeline(settings, agents=("agents.normalize", "agents.relevance"))
    sent: dict[str, list[tuple[bytes, bytes]]] = {name: [] for name in TOPICS}
    changelog: list[tuple[int | None, bytes]] = []
    caught_up = asyncio.Event()
    expected_count = -1  # set once the reference is computed, before the agent runs

    def check() -> None:
        count = len(sent["mentions.normalized"])
        if count == expected_count and len(changelog) == expected_count:
            caught_up.set()

    for name in TOPICS:

        async def fake_send(*, key: bytes, value: bytes, _name: str = name, **_: Any) -> None:
            sent[_name].append((key, value))
            check()

        monkeypatch.setattr(pipeline.topic(name), "send", fake_send)

    seen = pipeline.app.tables["normalize-seen"]
    send_changelog = seen.send_changelog

    def record_changelog(partition: int | None, key: Any, value: Any, **kw: Any) -> Any:
        changelog.append((partition, key))
        check()
        return send_changelog(partition, key, value, **kw)

    monkeypatch.setattr(seen, "send_changelog", record_changelog)

    samples = generate(300, seed=5, end=utc_now() - timedelta(minutes=1), hours=1)
    records = [record_for_line(s.line) for s in samples]
    partition_of = {r.key: n % 4 for n, r in enumerate(records)}
    # The reference: the two stages one after the other, as two agents run them.
    reference = build_stage(pipeline, metrics.relevance_metrics(CollectorRegistry()))
    brand = brand_accounts(settings)
    expected_normalized: list[bytes] = []
    expected_escalated: list[tuple[bytes, dict[str, Any]]] = []
    for record in records:
        mention = normalize_record(record.value, record.key, brand, utc_now())
        if not isinstance(mention, Mention):
            continue
        expected_normalized.append(mention.id.encode())
        outcome = reference.handle(mention.id.encode(), mention.to_json())
        if outcome.escalation is not None:
            key, value = outcome.escalation
            expected_escalated.append((key, orjson.loads(value)))

    expected_count = len(expected_normalized)
    async with pipeline.app.agents["normalize"].test_context() as agent:
        for record in records:
            await agent.put(record.value, key=record.key, partition=partition_of[record.key])
        # Redelivered: no second mention, no second escalation.
        for record in records[:50]:
            await agent.put(record.value, key=record.key, partition=partition_of[record.key])
        # The agent works in batches: wait until it has sent the mentions and dedupe marks
        # of all the new records (leaving the context then processes what is left).
        await asyncio.wait_for(caught_up.wait(), timeout=30)

    # Every dedupe mark goes to the changelog partition of its own raw record.
    assert changelog
    assert all(partition == partition_of[key] for partition, key in changelog)

    assert [k for k, _ in sent["mentions.normalized"]] == expected_normalized
    escalated = [(k, orjson.loads(v)) for k, v in sent["mentions.escalated"]]
    assert escalated, "the sample stream has actionable posts"
    assert [(k, e["id"], e["decision"]) for k, e in escalated] == [
        (k, e["id"], e["decision"]) for k, e in expected_escalated
    ]
    for _, value in escalated:
        assert schemas.validate("escalation", value) == []
    received = registry.get_sample_value("mentionflow_stage_received_total", {"stage": "relevance"})
    assert received == len(expected_normalized)
