"""The front stage's dedupe store: per partition, changelog replay, expiry."""

from __future__ import annotations

from pipeline.dedupe import encode_seen
from pipeline.front.seen import SeenStore

HOUR = 3600.0


def test_ids_are_seen_only_in_their_own_partition() -> None:
    store = SeenStore(HOUR)
    store.add(1, b"twitter:1", 1000)
    assert store.contains(1, b"twitter:1")
    assert not store.contains(2, b"twitter:1")
    assert not store.contains(1, b"twitter:2")
    assert len(store) == 1


def test_first_seen_time_is_kept() -> None:
    store = SeenStore(HOUR)
    store.add(0, b"a", 1000)
    store.add(0, b"a", 5000)
    # Still first seen at 1000: expires one window after that.
    assert store.expire(0, 1000 + HOUR + 1) == [b"a"]


def test_changelog_replay_marks_and_tombstones() -> None:
    store = SeenStore(HOUR)
    store.assign(3)
    store.apply(3, b"a", encode_seen(1000, 3))
    store.apply(3, b"b", encode_seen(1001, 3))
    store.apply(3, b"a", None)  # expired by the previous owner
    store.apply(3, b"b", encode_seen(2000, 3))  # a re-sent mark: the first one wins
    assert not store.contains(3, b"a")
    assert store.contains(3, b"b")
    assert store.expire(3, 1001 + HOUR + 0.5) == [b"b"]


def test_expiry_stops_at_the_first_id_still_in_the_window() -> None:
    store = SeenStore(HOUR)
    for i in range(10):
        store.add(0, b"id%d" % i, 1000 + i * 60)
    now = 1000 + HOUR + 4 * 60 + 1  # ids 0..4 are older than the window
    assert store.expire(0, now) == [b"id0", b"id1", b"id2", b"id3", b"id4"]
    assert store.expire(0, now) == []
    assert store.count(0) == 5
    assert store.contains(0, b"id5")


def test_expiry_is_bounded_per_call() -> None:
    store = SeenStore(0.0)
    for i in range(10):
        store.add(0, b"%d" % i, 1)
    assert len(store.expire(0, 100, limit=3)) == 3
    assert store.count(0) == 7


def test_forget_drops_a_revoked_partition() -> None:
    store = SeenStore(HOUR)
    store.add(0, b"a", 1)
    store.add(1, b"b", 1)
    store.forget(0)
    assert store.partitions() == {1}
    assert not store.contains(0, b"a")
    assert store.expire(0, 10**9) == []


def test_assign_starts_a_partition_empty() -> None:
    store = SeenStore(HOUR)
    store.add(2, b"stale", 1)
    store.assign(2)
    assert not store.contains(2, b"stale")
    assert 2 in store.partitions()
