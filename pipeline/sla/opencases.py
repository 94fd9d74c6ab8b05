"""Open cases by priority and queue, counted as the SLA clock applies case records.

A case is open from its first contact until it is resolved, closed or merged (a reopen
counts it again). The counts cover the cases this worker's clock holds for its actively
owned partitions, so the sum over workers is the fleet total. Kept as counters, not a set
of case ids: a million open cases cost nothing extra.
"""

from __future__ import annotations

from collections import Counter

from pipeline.sla.clock import CaseState, finished

__all__ = ["OpenCases", "OpenKey", "open_key"]

#: ``(priority, queue)``; a case without a queue counts under ``"none"``.
OpenKey = tuple[str, str]


def open_key(state: CaseState | None) -> OpenKey | None:
    """Where ``state`` counts, or ``None`` when it is not an open case."""
    if state is None or finished(state):
        return None
    return (state.priority, state.queue or "none")


class OpenCases:
    """Counts of open cases per :data:`OpenKey`, moved one case change at a time."""

    def __init__(self) -> None:
        self._counts: Counter[OpenKey] = Counter()

    def move(self, before: OpenKey | None, after: OpenKey | None) -> None:
        """A case went from ``before`` to ``after`` (``None``: not open / not held)."""
        if before == after:
            return
        if before is not None:
            self._counts[before] -= 1
            if self._counts[before] <= 0:
                del self._counts[before]
        if after is not None:
            self._counts[after] += 1

    def counts(self) -> dict[OpenKey, int]:
        """The current counts (keys with no open case are absent)."""
        return dict(self._counts)
