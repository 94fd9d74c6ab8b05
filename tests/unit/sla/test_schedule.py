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


def test_tags_come_back_with_the_latest_entry() -> None:
    heap = DeadlineHeap()
    heap.schedule("a", T0 + timedelta(seconds=30), 3)
    heap.schedule("b", T0 + timedelta(seconds=10), 1)
    heap.schedule("a", T0 + timedelta(seconds=5), 2)  # the stale entry's tag is not used
    assert list(heap.pop_due_tagged(T0 + timedelta(minutes=1))) == [("a", 2), ("b", 1)]
    assert len(heap) == 0


def test_deadlines_are_exact_to_the_microsecond() -> None:
    heap = DeadlineHeap()
    at = T0 + timedelta(microseconds=1)
    heap.schedule("a", at)
    assert heap.peek() == at
    assert list(heap.pop_due(T0)) == []
    assert list(heap.pop_due(at, strict=True)) == []
    assert list(heap.pop_due(at)) == ["a"]
