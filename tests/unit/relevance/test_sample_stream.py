"""The relevance stage over the labelled sample stream, in stream order, as the agent runs it.

The sample (``pipeline.sample``) labels every record: ``action`` (needs an answer, including
every direct message and every direct question to the brand), ``brand`` (the brand's own
posts) or ``noise``. The product's promise: about 2% escalate, never at the cost of a
direct request, and never the brand's own posts.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from agents.relevance import RelevanceStage
from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.normalize import normalize
from pipeline.relevance.budget import EscalationBudget
from pipeline.relevance.decision import Classifier
from pipeline.relevance.metrics import relevance_metrics
from pipeline.relevance.model import Model
from pipeline.sample import generate
from pipeline.watchlist import load_watchlist

WATCHLIST = Path(__file__).resolve().parents[3] / "config" / "watchlist.sample.yaml"
END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seed", "batch"), [(3, 1), (11, 1), (17, 1), (3, 64), (11, 200)])
def test_sample_stream_escalates_the_few_that_need_action(
    model: Model, seed: int, batch: int
) -> None:
    """One at a time (``handle``) and in batches (``handle_batch``, as a batching agent)."""
    watchlist = load_watchlist(WATCHLIST)
    brand = BrandAccounts.from_mapping(watchlist.brand_handles())
    stage = RelevanceStage(
        Classifier(watchlist, model),
        EscalationBudget(target_rate=0.02),
        relevance_metrics(CollectorRegistry()),
    )
    samples = generate(1500, seed=seed, end=END, hours=2)
    escalated: set[str] = set()
    mentions = [normalize(RawEnvelope.from_json(s.line), brand, now=END) for s in samples]
    for start in range(0, len(mentions), batch):
        chunk = mentions[start : start + batch]
        if batch == 1:
            outcomes = [stage.handle(None, chunk[0].to_json(), now=END)]
        else:
            outcomes = stage.handle_batch([(None, m.to_json()) for m in chunk], now=END)
        assert len(outcomes) == len(chunk)
        for mention, outcome in zip(chunk, outcomes, strict=True):
            assert outcome.decision is not None
            assert outcome.decision.id == mention.id
            if outcome.decision.escalate:
                escalated.add(mention.id)
    action = {s.mention_id for s in samples if s.category == "action"}
    brand_posts = {s.mention_id for s in samples if s.category == "brand"}
    noise = {s.mention_id for s in samples if s.category == "noise"}
    assert action - escalated == set(), "an action post was not escalated"
    assert escalated & brand_posts == set(), "the brand's own posts never escalate"
    assert len(escalated) / len(samples) <= 0.05
    assert len(escalated & noise) / len(noise) <= 0.01


def test_handle_batch_keeps_order_and_deadletters_bad_records(model: Model) -> None:
    watchlist = load_watchlist(WATCHLIST)
    stage = RelevanceStage(
        Classifier(watchlist, model),
        EscalationBudget(target_rate=0.02),
        relevance_metrics(CollectorRegistry()),
    )
    samples = generate(40, seed=5, end=END, hours=1)
    brand = BrandAccounts.from_mapping(watchlist.brand_handles())
    good = [normalize(RawEnvelope.from_json(s.line), brand, now=END).to_json() for s in samples]
    records = [
        (None, good[0]),
        (b"k", b"not json"),
        (None, good[1]),
        (None, b"{}"),
        (None, good[2]),
    ]
    outcomes = stage.handle_batch(records, now=END)
    assert [o.deadletter is not None for o in outcomes] == [False, True, False, True, False]
    assert outcomes[1].deadletter is not None
    assert outcomes[1].deadletter.to_json()  # the original bytes travel with it
    single = RelevanceStage(
        Classifier(watchlist, model),
        EscalationBudget(target_rate=0.02),
        relevance_metrics(CollectorRegistry()),
    )
    # below the budget's first recomputation, one at a time and batched decide alike
    for record, outcome in zip(records, outcomes, strict=True):
        alone = single.handle(*record, now=END)
        assert alone.decision == outcome.decision
        assert alone.escalation == outcome.escalation
    assert stage.handle_batch([]) == []
