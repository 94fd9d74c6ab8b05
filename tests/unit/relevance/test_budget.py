import random

import pytest

from pipeline.relevance.budget import EscalationBudget
from pipeline.relevance.decision import Classifier
from tests.unit.relevance.conftest import make_mention


def test_threshold_tracks_target_rate_on_a_stream() -> None:
    rng = random.Random(7)
    budget = EscalationBudget(
        target_rate=0.02, update_every=200, window=4000, min_threshold=0.0, max_threshold=1.0
    )
    # 70% ineligible (score 0), the rest uniform scores
    scores = [0.0 if rng.random() < 0.7 else rng.random() for _ in range(20_000)]
    escalated = 0
    for s in scores[:10_000]:
        budget.observe_score(s)
    for s in scores[10_000:]:
        escalated += s >= budget.threshold
        budget.observe_score(s)
    assert 0.015 <= escalated / 10_000 <= 0.025
    assert 0.9 < budget.threshold < 1.0


def test_threshold_is_clamped() -> None:
    loud = EscalationBudget(target_rate=0.02, update_every=10, max_threshold=0.85)
    for _ in range(100):
        loud.observe_score(0.99)  # a crisis: everything scores high
    assert loud.threshold == 0.85  # safety/legal (0.9+) still escalate
    quiet = EscalationBudget(target_rate=0.02, update_every=10, min_threshold=0.35)
    for _ in range(100):
        quiet.observe_score(0.0)
    assert quiet.threshold == 0.35  # chatter does not escalate on a quiet day


def test_higher_rate_lowers_threshold() -> None:
    rng = random.Random(1)
    scores = [rng.random() for _ in range(5000)]
    low, high = (
        EscalationBudget(target_rate=r, update_every=100, min_threshold=0.0) for r in (0.01, 0.2)
    )
    for s in scores:
        low.observe_score(s)
        high.observe_score(s)
    assert high.threshold < low.threshold


def test_invalid_rate_rejected() -> None:
    with pytest.raises(ValueError, match="target_rate"):
        EscalationBudget(target_rate=0.0)


def test_forced_escalations_bypass_the_budget_but_use_it_up(classifier: Classifier) -> None:
    budget = EscalationBudget(target_rate=0.02, update_every=10, max_threshold=0.85)
    for _ in range(100):
        budget.observe_score(0.84)
    assert budget.threshold == pytest.approx(0.84, abs=1e-3)  # room for 2 in 100
    dm = classifier.decide(
        make_mention("hallo", kind="direct_message", is_direct=True), threshold=1.01
    )
    assert dm.escalate
    assert dm.forced
    for _ in range(10):
        budget.observe(dm)  # a full inbox: forced escalations take the budget's slots
    assert budget._scores[-1] == 0.0
    assert budget.threshold == 0.85  # only the always-pass ceiling is left


def test_warm_up_adapts_before_update_every() -> None:
    budget = EscalationBudget(target_rate=0.02, update_every=250, threshold=0.5)
    for _ in range(25):
        budget.observe_score(0.6)
    # a fresh worker does not escalate 25 chatter posts at the default threshold
    assert budget.threshold == budget.max_threshold
