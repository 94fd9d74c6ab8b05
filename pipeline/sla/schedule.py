"""A heap of case deadlines: which case has the next stage due, without scanning all cases.

Entries are invalidated lazily: a case may be pushed many times; when an entry pops, the
caller recomputes the case's real next deadline (:func:`pipeline.sla.clock.next_deadline`)
and acts only if it is due. ``schedule`` skips a push equal to the case's latest one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime

__all__ = ["DeadlineHeap"]


class DeadlineHeap:
    """Min-heap of ``(deadline, case_id)``; one live entry per case (the latest pushed)."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._latest: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._latest)

    def schedule(self, case_id: str, deadline: datetime | None) -> None:
        """Set the case's next deadline (``None``: nothing pending)."""
        if deadline is None:
            self._latest.pop(case_id, None)
            return
        if self._latest.get(case_id) == deadline:
            return
        self._latest[case_id] = deadline
        heapq.heappush(self._heap, (deadline, case_id))

    def discard(self, case_id: str) -> None:
        self._latest.pop(case_id, None)

    def peek(self) -> datetime | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime, *, strict: bool = False) -> Iterator[str]:
        """Case ids whose deadline is ``<= now`` (``< now`` if ``strict``), earliest first.

        Each popped case is unscheduled; the caller reschedules it after acting.
        """
        while True:
            self._drop_stale()
            if not self._heap:
                return
            deadline, case_id = self._heap[0]
            if deadline > now or (strict and deadline == now):
                return
            heapq.heappop(self._heap)
            del self._latest[case_id]
            yield case_id

    def clear(self) -> None:
        self._heap.clear()
        self._latest.clear()

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._latest.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
