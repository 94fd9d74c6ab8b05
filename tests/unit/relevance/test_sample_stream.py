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


@pytest.mark.parametrize("seed", [3, 11, 17])
def test_sample_stream_escalates_the_few_that_need_action(model: Model, seed: int) -> None:
    watchlist = load_watchlist(WATCHLIST)
    brand = BrandAccounts.from_mapping(watchlist.brand_handles())
    stage = RelevanceStage(
        Classifier(watchlist, model),
        EscalationBudget(target_rate=0.02),
        relevance_metrics(CollectorRegistry()),
    )
    samples = generate(1500, seed=seed, end=END, hours=2)
    escalated: set[str] = set()
    for sample in samples:
        mention = normalize(RawEnvelope.from_json(sample.line), brand, now=END)
        outcome = stage.handle(None, mention.to_json(), now=END)
        assert outcome.decision is not None
        if outcome.decision.escalate:
            escalated.add(mention.id)
    action = {s.mention_id for s in samples if s.category == "action"}
    brand_posts = {s.mention_id for s in samples if s.category == "brand"}
    noise = {s.mention_id for s in samples if s.category == "noise"}
    assert action - escalated == set(), "an action post was not escalated"
    assert escalated & brand_posts == set(), "the brand's own posts never escalate"
    assert len(escalated) / len(samples) <= 0.05
    assert len(escalated & noise) / len(noise) <= 0.01
