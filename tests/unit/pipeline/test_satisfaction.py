from __future__ import annotations

import pytest

from pipeline.satisfaction import (
    RATINGS,
    FeedbackError,
    SatisfactionTally,
    parse_feedback,
    parse_share,
    targets_from_env,
)
from schemas import validate


def record(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "schema_version": 1,
        "id": "fb-1",
        "case_id": "case-1",
        "received_at": "2026-11-23T10:00:00.000Z",
        "rating": "somewhat_satisfied",
        "comment": None,
    }
    base.update(over)
    return base


def test_share_satisfied_is_top_two_box() -> None:
    tally = SatisfactionTally.of(
        ["satisfied", "somewhat_satisfied", "neutral", "very_dissatisfied", "satisfied"]
    )
    assert tally.total == 5
    assert tally.share_satisfied == pytest.approx(0.6)
    assert tally.meets(0.8) is False
    assert tally.meets(0.6) is True


def test_no_answers_no_share() -> None:
    assert SatisfactionTally().share_satisfied is None
    assert SatisfactionTally().meets(0.8) is None


def test_unknown_rating_rejected() -> None:
    with pytest.raises(FeedbackError) as info:
        SatisfactionTally().add("great")
    assert info.value.code == "unknown_rating"


def test_scale_matches_the_schema() -> None:
    for rating in RATINGS:
        assert validate("feedback", record(rating=rating)) == []
    assert validate("feedback", record(rating="great")) != []


def test_parse_feedback() -> None:
    parsed = parse_feedback(record())
    assert (parsed.id, parsed.case_id, parsed.rating) == ("fb-1", "case-1", "somewhat_satisfied")
    with pytest.raises(FeedbackError, match="rating"):
        parse_feedback(record(rating="meh"))
    with pytest.raises(FeedbackError):
        parse_feedback(["not", "an", "object"])


@pytest.mark.parametrize(("text", "share"), [("0.8", 0.8), ("80%", 0.8), ("100%", 1.0), ("0", 0.0)])
def test_parse_share(text: str, share: float) -> None:
    assert parse_share(text, name="X") == pytest.approx(share)


@pytest.mark.parametrize("text", ["eighty", "1.5", "-1", "120%"])
def test_parse_share_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="X: expected a share"):
        parse_share(text, name="X")


def test_targets_from_env() -> None:
    assert targets_from_env({}) == {
        "sla_compliance": 0.9,
        "response_rate": 0.9,
        "satisfaction": 0.8,
    }
    assert targets_from_env({"MENTIONFLOW_SATISFACTION_TARGET": "75%"})["satisfaction"] == 0.75
    with pytest.raises(ValueError, match="MENTIONFLOW_SLA_COMPLIANCE_TARGET"):
        targets_from_env({"MENTIONFLOW_SLA_COMPLIANCE_TARGET": "high"})
