"""The batch front stage's processing (no Kafka): same records out as the two Faust agents."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from prometheus_client import CollectorRegistry

import agents.relevance
import schemas
from agents.front import FrontStage
from agents.normalize import brand_accounts, normalize_record
from agents.relevance import build_stage
from connectors.replay import record_for_line
from pipeline.app import Pipeline, create_pipeline
from pipeline.front.batch import RawRecord
from pipeline.front.seen import SeenStore
from pipeline.mention import Mention
from pipeline.metrics import pipeline_metrics
from pipeline.relevance import metrics
from pipeline.relevance.budget import EscalationBudget
from pipeline.sample import generate
from pipeline.settings import Settings, SettingsError
from pipeline.timeutil import utc_now

REPO = Path(__file__).resolve().parents[3]
RAW = "t-mentions.raw"


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    reg = CollectorRegistry()
    metrics.set_registry(reg)
    yield reg
    metrics.set_registry(None)


@pytest.fixture(autouse=True)
def fixed_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    # The adaptive budget moves per decision and a batch is decided at once: with a fixed
    # threshold the decisions do not depend on how the records are batched.
    monkeypatch.setattr(
        agents.relevance,
        "EscalationBudget",
        lambda target_rate: EscalationBudget(
            target_rate=target_rate, min_threshold=0.5, max_threshold=0.5
        ),
    )


def _settings(tmp_path: Path, **changes: Any) -> Settings:
    return dataclasses.replace(
        Settings(),
        watchlist=REPO / "config" / "watchlist.sample.yaml",
        store="memory://",
        data_dir=tmp_path,
        **changes,
    )


def _stage(settings: Settings, registry: CollectorRegistry) -> FrontStage:
    pipeline = Pipeline(app=cast(Any, None), settings=settings)
    return FrontStage(
        brand_accounts(settings),
        build_stage(pipeline, metrics.relevance_metrics(registry)),
        RAW,
        metrics=pipeline_metrics(registry).stage,
    )


def _raw(count: int, seed: int = 5) -> list[RawRecord]:
    samples = generate(count, seed=seed, end=utc_now() - timedelta(minutes=1), hours=1)
    out = []
    for n, sample in enumerate(samples):
        record = record_for_line(sample.line)
        out.append(RawRecord(n % 4, 1000 + n, record.key, record.value))
    return out


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_batch_writes_what_normalise_then_relevance_write(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    settings = _settings(tmp_path)
    records = _raw(300)
    reference = build_stage(
        Pipeline(app=cast(Any, None), settings=settings),
        metrics.relevance_metrics(CollectorRegistry()),
    )
    brand = brand_accounts(settings)
    want_normalized: list[bytes] = []
    want_escalated: list[tuple[bytes, Any]] = []
    for record in records:
        mention = normalize_record(record.value, record.key, brand, utc_now())
        if not isinstance(mention, Mention):
            continue
        want_normalized.append(mention.id.encode())
        outcome = reference.handle(mention.id.encode(), mention.to_json())
        if outcome.escalation is not None:
            key, value = outcome.escalation
            want_escalated.append((key, orjson.loads(value)))

    stage = _stage(settings, registry)
    seen = SeenStore(3600)
    out = stage(records, seen)

    normalized = [s for s in out.sends if s.topic == "mentions.normalized"]
    escalated = [s for s in out.sends if s.topic == "mentions.escalated"]
    assert [s.key for s in normalized] == want_normalized
    for send in normalized[:30]:
        mention = orjson.loads(send.value)
        assert schemas.validate("mention", mention) == []
        assert mention["id"].encode() == send.key
    assert escalated, "the sample stream has actionable posts"
    got = [(s.key, orjson.loads(s.value)) for s in escalated]
    assert [(k, e["id"], e["decision"]) for k, e in got] == [
        (k, e["id"], e["decision"]) for k, e in want_escalated
    ]
    for _, value in got:
        assert schemas.validate("escalation", value) == []
    # Each new id is marked in the partition of the raw record it came from.
    partition_of = {}
    for record in records:
        mention = normalize_record(record.value, record.key, brand, utc_now())
        if isinstance(mention, Mention):
            partition_of[mention.id.encode()] = record.partition
    assert out.marks == [(partition_of[k], k) for k in want_normalized]
    # The ids are not marked by processing (only by the runner once the sends are acked).
    assert len(seen) == 0
    received = _sample(registry, "mentionflow_stage_received_total", stage="normalize")
    assert received == len(records)
    assert _sample(registry, "mentionflow_stage_received_total", stage="relevance") == len(
        want_normalized
    )


def test_duplicates_in_the_batch_or_already_seen_are_dropped(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    stage = _stage(_settings(tmp_path), registry)
    records = list(_raw(40, seed=9))
    first = stage(records, SeenStore(3600))
    ids = [k for _, k in first.marks]
    assert len(ids) >= 30

    seen = SeenStore(3600)
    for partition, key in first.marks[:10]:
        seen.add(partition, key, 1)
    again = stage(records + records[-5:], seen)  # 10 seen before, 5 repeated in the batch
    normalized = [s.key for s in again.sends if s.topic == "mentions.normalized"]
    assert normalized == ids[10:]
    assert [k for _, k in again.marks] == ids[10:]
    dropped = _sample(
        registry, "mentionflow_stage_dropped_total", stage="normalize", reason="duplicate"
    )
    assert dropped == 10 + sum(1 for r in records[-5:] if _is_valid(r))


def _is_valid(record: RawRecord) -> bool:
    return isinstance(
        normalize_record(record.value, record.key, brand_accounts(Settings()), utc_now()), Mention
    )


def test_bad_records_are_dead_lettered_with_their_position(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    stage = _stage(_settings(tmp_path), registry)
    records = [
        RawRecord(2, 77, b"twitter:1", b"{not json"),
        RawRecord(3, 5, None, None),
    ]
    out = stage(records, SeenStore(3600))
    assert [s.topic for s in out.sends] == ["mentions.deadletter"] * 2
    assert out.marks == []
    letters = [orjson.loads(s.value) for s in out.sends]
    assert [(d["topic"], d["partition"], d["offset"]) for d in letters] == [
        (RAW, 2, 77),
        (RAW, 3, 5),
    ]
    for letter in letters:
        assert schemas.validate("deadletter", letter) == []
    assert out.sends[0].key == b"twitter:1"
    total = sum(
        _sample(registry, "mentionflow_stage_deadlettered_total", stage="normalize", error=e)
        for e in ("invalid_envelope",)
    )
    assert total == 2


def test_passed_and_latency_count_only_once_sent(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    stage = _stage(_settings(tmp_path), registry)
    out = stage(_raw(20, seed=3), SeenStore(3600))
    assert _sample(registry, "mentionflow_stage_passed_total", stage="normalize") == 0
    assert out.on_sent is not None
    out.on_sent()
    assert _sample(registry, "mentionflow_stage_passed_total", stage="normalize") == len(out.marks)
    assert _sample(
        registry, "mentionflow_stage_event_latency_seconds_count", stage="normalize"
    ) == len(out.marks)


def test_batch_front_replaces_the_two_agents(tmp_path: Path, registry: CollectorRegistry) -> None:
    front = ("agents.front", "agents.normalize", "agents.relevance")
    batch = create_pipeline(_settings(tmp_path), agents=front).app
    assert "normalize" not in batch.agents
    assert "relevance" not in batch.agents
    assert "normalize-seen" not in batch.tables
    assert len(batch._extra_services) == 1
    faust = create_pipeline(_settings(tmp_path, front="faust"), agents=front).app
    assert {"normalize", "relevance"} <= set(faust.agents)
    assert "normalize-seen" in faust.tables
    assert faust._extra_services == []


def test_front_setting_is_checked() -> None:
    assert Settings.from_env({}).front == "batch"
    assert Settings.from_env({"MENTIONFLOW_FRONT": " Faust "}).front == "faust"
    with pytest.raises(SettingsError, match=r"MENTIONFLOW_FRONT.*batch, faust.*'kafka'"):
        Settings.from_env({"MENTIONFLOW_FRONT": "kafka"})
