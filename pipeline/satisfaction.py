"""Customer satisfaction from survey answers (topic ``feedback``, schema ``feedback`` v1).

Five-step scale, best first. The share satisfied is the usual CSAT "top two box": answers
``satisfied`` or ``somewhat_satisfied`` over all answers. It is compared with a target
share (``MENTIONFLOW_SATISFACTION_TARGET``, default 0.8, ``80%`` accepted too).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RATINGS",
    "SATISFIED",
    "FeedbackError",
    "SatisfactionTally",
    "parse_feedback",
    "parse_share",
]

RATINGS = (
    "satisfied",
    "somewhat_satisfied",
    "neutral",
    "somewhat_dissatisfied",
    "very_dissatisfied",
)
SATISFIED = frozenset(RATINGS[:2])


class FeedbackError(ValueError):
    """A feedback record that does not follow ``feedback`` v1; ``code`` is a short reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Feedback:
    id: str
    case_id: str
    rating: str


def parse_feedback(record: Any) -> Feedback:
    """A decoded JSON record to :class:`Feedback`; raises :class:`FeedbackError`."""
    from schemas import validate

    if not isinstance(record, dict):
        raise FeedbackError("invalid_feedback", "expected a JSON object")
    errors = validate("feedback", record)
    if errors:
        raise FeedbackError("invalid_feedback", "; ".join(str(e) for e in errors)[:500])
    return Feedback(id=record["id"], case_id=record["case_id"], rating=record["rating"])


@dataclass(slots=True)
class SatisfactionTally:
    """Counts of answers by rating; :attr:`share_satisfied` is None before any answer."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, rating: str) -> None:
        if rating not in RATINGS:
            raise FeedbackError("unknown_rating", f"rating {rating!r} not in {RATINGS}")
        self.counts[rating] += 1

    @classmethod
    def of(cls, ratings: Iterable[str]) -> SatisfactionTally:
        tally = cls()
        for rating in ratings:
            tally.add(rating)
        return tally

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def share_satisfied(self) -> float | None:
        total = self.total
        if not total:
            return None
        return sum(self.counts[r] for r in SATISFIED) / total

    def meets(self, target: float) -> bool | None:
        """Whether the share satisfied reaches ``target`` (None without answers)."""
        share = self.share_satisfied
        return None if share is None else share >= target


def parse_share(text: str, *, name: str) -> float:
    """``"0.8"`` or ``"80%"`` to 0.8; ``ValueError`` naming ``name`` unless within 0..1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a share like 0.8 or 80%, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a share between 0 and 1 (0%..100%), got {text!r}")
    return value


def targets_from_env(env: Mapping[str, str]) -> dict[str, float]:
    """The three targets the alert rules compare with, from ``MENTIONFLOW_*_TARGET``."""
    defaults = {"sla_compliance": "0.9", "response_rate": "0.9", "satisfaction": "0.8"}
    targets: dict[str, float] = {}
    for key, default in defaults.items():
        name = f"MENTIONFLOW_{key.upper()}_TARGET"
        targets[key] = parse_share(env.get(name) or default, name=name)
    return targets
