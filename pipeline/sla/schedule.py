"""A heap of case deadlines: which case has the next stage due, without scanning all cases.

Entries are invalidated lazily: a case may be pushed many times; when an entry pops, the
caller recomputes the case's real next deadline (:func:`pipeline.sla.clock.next_deadline`)
and acts only if it is due. ``schedule`` skips a push equal to the case's latest one.

Deadlines are held as UTC epoch seconds (floats: half the size of a ``datetime``), and each
entry carries a small tag (the SLA clock: the case's partition) so no second per-case map
is needed: a million scheduled cases cost ~100 bytes each besides their ids.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime

__all__ = ["DeadlineHeap"]


class DeadlineHeap:
    """Min-heap of ``(deadline, case_id, tag)``; one live entry per case (the latest pushed)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, str, int | None]] = []
        self._latest: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._latest)

    def schedule(self, case_id: str, deadline: datetime | None, tag: int | None = None) -> None:
        """Set the case's next deadline (``None``: nothing pending) and its tag."""
        if deadline is None:
            self._latest.pop(case_id, None)
            return
        at = deadline.timestamp()
        if self._latest.get(case_id) == at:
            return
        self._latest[case_id] = at
        heapq.heappush(self._heap, (at, case_id, tag))

    def discard(self, case_id: str) -> None:
        self._latest.pop(case_id, None)

    def peek(self) -> datetime | None:
        self._drop_stale()
        return datetime.fromtimestamp(self._heap[0][0], UTC) if self._heap else None

    def pop_due(self, now: datetime, *, strict: bool = False) -> Iterator[str]:
        """Case ids whose deadline is ``<= now`` (``< now`` if ``strict``), earliest first.

        Each popped case is unscheduled; the caller reschedules it after acting.
        """
        for case_id, _ in self.pop_due_tagged(now, strict=strict):
            yield case_id

    def pop_due_tagged(
        self, now: datetime, *, strict: bool = False
    ) -> Iterator[tuple[str, int | None]]:
        """:meth:`pop_due` with each case's tag (as given to its latest :meth:`schedule`)."""
        limit = now.timestamp()
        while True:
            self._drop_stale()
            if not self._heap:
                return
            at, case_id, tag = self._heap[0]
            if at > limit or (strict and at == limit):
                return
            heapq.heappop(self._heap)
            del self._latest[case_id]
            yield case_id, tag

    def clear(self) -> None:
        self._heap.clear()
        self._latest.clear()

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._latest.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
