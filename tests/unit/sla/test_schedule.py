"""The deadline heap: earliest first, one live entry per case, lazy invalidation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.sla.schedule import DeadlineHeap

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def test_pops_due_in_order_and_only_latest_entry() -> None:
    heap = DeadlineHeap()
    heap.schedule("a", T0 + timedelta(seconds=30))
    heap.schedule("b", T0 + timedelta(seconds=10))
    heap.schedule("a", T0 + timedelta(seconds=5))  # moved earlier: the old entry is stale
    heap.schedule("c", T0 + timedelta(seconds=20))
    heap.schedule("c", None)  # nothing pending any more
    assert len(heap) == 2
    assert heap.peek() == T0 + timedelta(seconds=5)
    assert list(heap.pop_due(T0 + timedelta(seconds=10), strict=True)) == ["a"]
    assert list(heap.pop_due(T0 + timedelta(seconds=10))) == ["b"]
    assert list(heap.pop_due(T0 + timedelta(days=1))) == []
    assert heap.peek() is None


def test_reschedule_later_and_discard() -> None:
    heap = DeadlineHeap()
    heap.schedule("a", T0)
    heap.schedule("a", T0 + timedelta(minutes=1))
    assert list(heap.pop_due(T0)) == []
    heap.discard("a")
    assert list(heap.pop_due(T0 + timedelta(hours=1))) == []
