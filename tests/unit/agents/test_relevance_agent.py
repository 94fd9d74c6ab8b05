import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

import schemas
from pipeline.app import create_pipeline
from pipeline.relevance import metrics
from pipeline.settings import Settings
from tests.unit.relevance.conftest import make_mention

WATCHLIST = """\
entities:
  - name: Deutsche Bahn
    kind: brand
    aliases: ["Deutsche Bahn", "DB", "Bahn"]
    handles: {twitter: ["DB_Bahn", "DB_Info"]}
"""


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    reg = CollectorRegistry()
    metrics.set_registry(reg)
    yield reg
    metrics.set_registry(None)


async def test_agent_escalates_drops_and_deadletters(
    tmp_path: Path, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    wl = tmp_path / "wl.yaml"
    wl.write_text(WATCHLIST)
    settings = dataclasses.replace(
        Settings(), front="faust", watchlist=wl, store="memory://", data_dir=tmp_path
    )
    pipeline = create_pipeline(settings, agents=("agents.relevance",))
    sent: dict[str, list[tuple[bytes, bytes]]] = {
        "mentions.escalated": [],
        "mentions.deadletter": [],
    }

    for name in sent:

        async def fake_send(*, key: bytes, value: bytes, _name: str = name, **_: Any) -> None:
            sent[_name].append((key, value))

        monkeypatch.setattr(pipeline.topic(name), "send", fake_send)

    agent = pipeline.app.agents["relevance"]
    outage = make_mention(
        "Signalstörung bei der Bahn, alle Züge fallen aus", lang="de", id="twitter:10"
    )
    chatter = make_mention("Schönes Wetter heute im Park", lang="de", id="twitter:11")
    brand = make_mention("Die Störung ist behoben", lang="de", id="twitter:12", is_brand=True)
    dm = make_mention("Hallo, eine Frage", kind="direct_message", is_direct=True, id="twitter:13")
    async with agent.test_context() as ag:
        for m in (outage, chatter, brand, dm):
            await ag.put(m.to_json(), key=m.id.encode())
        await ag.put(b"{broken", key=b"twitter:14")

    escalated = [orjson.loads(v) for _, v in sent["mentions.escalated"]]
    assert [e["id"] for e in escalated] == ["twitter:10", "twitter:13"]
    assert all(k == b"twitter:42" for k, _ in sent["mentions.escalated"])
    for e in escalated:
        assert schemas.validate("escalation", e) == []
    ((dl_key, dl_value),) = sent["mentions.deadletter"]
    assert dl_key == b"twitter:14"
    assert schemas.validate("deadletter", orjson.loads(dl_value)) == []

    def value(name: str, **labels: str) -> float:
        got = registry.get_sample_value(name, labels)
        return 0.0 if got is None else got

    stage = {"stage": "relevance"}
    assert value("mentionflow_stage_received_total", **stage) == 5
    assert value("mentionflow_stage_passed_total", **stage) == 2
    assert value("mentionflow_relevance_escalated_total", rule="budget") == 1
    assert value("mentionflow_relevance_escalated_total", rule="forced") == 1
    assert value("mentionflow_stage_dropped_total", reason="brand_own_post", **stage) == 1
    assert value("mentionflow_stage_deadlettered_total", error="invalid_mention", **stage) == 1
    dropped = value("mentionflow_stage_dropped_total", reason="not_relevant", **stage) + value(
        "mentionflow_stage_dropped_total", reason="not_actionable", **stage
    )
    assert dropped == 1
    assert value("mentionflow_mentions_evaluated_total", source="twitter") == 4


def test_stage_batch_counts_every_mention_once(tmp_path: Path, registry: CollectorRegistry) -> None:
    """The counters a batch adds up once (evaluated, dropped) equal one count per mention."""
    import yaml

    from agents.relevance import RelevanceStage
    from pipeline.relevance.budget import EscalationBudget
    from pipeline.relevance.decision import Classifier
    from pipeline.relevance.model import load_model
    from pipeline.watchlist import parse_watchlist

    stage = RelevanceStage(
        Classifier(parse_watchlist(yaml.safe_load(WATCHLIST)), load_model()),
        EscalationBudget(target_rate=0.02),
        metrics.relevance_metrics(),
    )
    texts = ["Schönes Wetter heute", "Die Bahn ist super", "Signalstörung bei der Bahn"]
    batch = [
        make_mention(texts[i % 3], lang="de", id=f"{src}:{i}", source=src)
        for i, src in enumerate(["twitter", "facebook", "email", "twitter"] * 5)
    ]
    records = [(m.id.encode(), m.to_json()) for m in batch] + [(b"x", b"{broken")]
    outcomes = stage.handle_batch(records)
    decisions = [o.decision for o in outcomes if o.decision is not None]
    assert len(decisions) == 20

    def value(name: str, **labels: str) -> float:
        got = registry.get_sample_value(name, labels)
        return 0.0 if got is None else got

    for src in ("twitter", "facebook", "email"):
        expected = sum(1 for m in batch if m.source == src)
        assert value("mentionflow_mentions_evaluated_total", source=src) == expected
    reasons = {d.drop_reason or "other" for d in decisions if not d.escalate}
    assert reasons
    for reason in reasons:
        expected = sum(
            1 for d in decisions if not d.escalate and (d.drop_reason or "other") == reason
        )
        got = value("mentionflow_stage_dropped_total", stage="relevance", reason=reason)
        assert got == expected
    stage_labels = {"stage": "relevance"}
    assert value("mentionflow_stage_received_total", **stage_labels) == 21
    assert value("mentionflow_stage_passed_total", **stage_labels) == sum(
        d.escalate for d in decisions
    )


def test_workers_run_without_the_encoder_cascade_unless_switched_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agents.relevance import stage_cascade

    monkeypatch.delenv("MENTIONFLOW_ENCODER", raising=False)
    assert stage_cascade(None) is None
    monkeypatch.setenv("MENTIONFLOW_ENCODER", "on")
    assert stage_cascade(None) is not None
