"""The escalation budget: keep all escalations near a target share of all mentions.

Forced escalations (direct messages, e-mails with a request, direct requests to the brand)
are never dropped by the budget, but they use it up: the issue's promise is that about 2%
of all mentions escalate, so a busy support inbox leaves less room for the scored rest.
The threshold on the decision score is chosen so that the recent forced escalations plus
the scores above it make ``target_rate`` of the recent mentions (ineligible ones count as
score 0), recomputed every ``update_every`` observations (every tenth of that while the window holds
fewer, so a fresh worker does not start at the default) over the last ``window`` and
clamped to ``[min_threshold, max_threshold]``: ``max_threshold`` keeps safety and legal
issues (rule scores 0.9+) escalating however loud the stream or how full the inbox;
``min_threshold`` stops a quiet stream from escalating chatter. Deterministic for a given
sequence of observations.
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
    _forced: deque[bool] = field(init=False, repr=False)
    _since_update: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.target_rate < 1.0:
            raise ValueError(f"target_rate must be in (0, 1), got {self.target_rate}")
        if not 0.0 <= self.min_threshold <= self.max_threshold <= 1.0:
            raise ValueError("need 0 <= min_threshold <= max_threshold <= 1")
        self._scores = deque(maxlen=self.window)
        self._forced = deque(maxlen=self.window)
        self.threshold = min(max(self.threshold, self.min_threshold), self.max_threshold)

    @property
    def _warmup(self) -> int:
        return max(1, self.update_every // 10)

    def observe(self, decision: Decision) -> None:
        """Record a decision made with the current :attr:`threshold`."""
        eligible = not decision.forced and decision.drop_reason not in (
            "brand_own_post",
            "not_relevant",
            "not_actionable",
            "competitor_no_signal",
        )
        self.observe_score(
            decision.score if eligible else 0.0, forced=decision.forced and decision.escalate
        )

    def observe_score(self, score: float, *, forced: bool = False) -> None:
        """Record one mention's score (0 if ineligible); ``forced``: it escalated outside
        the budget and takes up one slot of it."""
        self._scores.append(0.0 if forced else score)
        self._forced.append(forced)
        self._since_update += 1
        # warm-up: a fresh worker adapts ten times as often until it has seen update_every
        every = self.update_every if len(self._scores) >= self.update_every else self._warmup
        if self._since_update >= every:
            self._since_update = 0
            self.threshold = self._quantile_threshold()

    def _quantile_threshold(self) -> float:
        ordered = sorted(self._scores)
        allowed = int(len(ordered) * self.target_rate) - sum(self._forced)
        if allowed <= 0:
            return self.max_threshold
        # the score that the top `allowed` scores reach; ties above it all pass
        cut = ordered[len(ordered) - allowed - 1] if allowed < len(ordered) else 0.0
        value = cut + 1e-6
        return min(max(value, self.min_threshold), self.max_threshold)
