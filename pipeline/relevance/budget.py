"""The escalation budget: keep budgeted escalations near a target share of all mentions.

Forced escalations (direct messages, e-mails, direct questions to the brand) never count
against the budget and are never dropped by it. For the rest, the threshold on the
decision score is the ``1 - target_rate`` quantile of the recent scores of all mentions
(ineligible ones count as 0), recomputed every ``update_every`` observations and clamped
to ``[min_threshold, max_threshold]``: ``max_threshold`` keeps safety and legal issues
(rule scores 0.9+) escalating however loud the stream gets; ``min_threshold`` stops a
quiet stream from escalating chatter. Deterministic for a given sequence of scores.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pipeline.relevance.decision import Decision

__all__ = ["EscalationBudget"]


@dataclass
class EscalationBudget:
    target_rate: float = 0.02
    threshold: float = 0.5
    window: int = 5000
    update_every: int = 250
    min_threshold: float = 0.35
    max_threshold: float = 0.85
    _scores: deque[float] = field(init=False, repr=False)
    _since_update: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.target_rate < 1.0:
            raise ValueError(f"target_rate must be in (0, 1), got {self.target_rate}")
        if not 0.0 <= self.min_threshold <= self.max_threshold <= 1.0:
            raise ValueError("need 0 <= min_threshold <= max_threshold <= 1")
        self._scores = deque(maxlen=self.window)
        self.threshold = min(max(self.threshold, self.min_threshold), self.max_threshold)

    def observe(self, decision: Decision) -> None:
        """Record a decision made with the current :attr:`threshold`."""
        eligible = not decision.forced and decision.drop_reason not in (
            "brand_own_post",
            "not_relevant",
            "not_actionable",
            "competitor_no_signal",
        )
        self.observe_score(decision.score if eligible else 0.0)

    def observe_score(self, score: float) -> None:
        self._scores.append(score)
        self._since_update += 1
        if self._since_update >= self.update_every and len(self._scores) >= self.update_every:
            self._since_update = 0
            self.threshold = self._quantile_threshold()

    def _quantile_threshold(self) -> float:
        ordered = sorted(self._scores)
        allowed = int(len(ordered) * self.target_rate)
        # the score that the top `allowed` scores reach; ties above it all pass
        cut = ordered[len(ordered) - allowed - 1] if allowed < len(ordered) else 0.0
        value = cut + 1e-6
        return min(max(value, self.min_threshold), self.max_threshold)
