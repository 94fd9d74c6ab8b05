"""The front stage's dedupe stores (RAM and RocksDB): per partition, changelog replay,
expiry, the applied changelog offset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.dedupe import encode_seen
from pipeline.front.seen import RocksSeenStore, Seen, SeenStore

HOUR = 3600.0


@pytest.fixture(params=["memory", "rocksdb"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[type]:
    made: list[RocksSeenStore] = []

    def build(window_s: float = HOUR) -> Seen:
        if request.param == "memory":
            return SeenStore(window_s)
        store = RocksSeenStore(window_s, tmp_path / "seen")
        made.append(store)
        return store

    yield build  # type: ignore[misc]
    for store in made:
        store.close()


def test_ids_are_seen_only_in_their_own_partition(make) -> None:  # type: ignore[no-untyped-def]
    store = make()
    store.assign(1)
    store.assign(2)
    store.add_many(1, [b"twitter:1"], 1000)
    assert store.contains(1, b"twitter:1")
    assert not store.contains(2, b"twitter:1")
    assert not store.contains(1, b"twitter:2")
    assert not store.contains(3, b"twitter:1")  # not assigned


def test_first_seen_time_is_kept(make) -> None:  # type: ignore[no-untyped-def]
    store = make()
    store.assign(0)
    store.add_many(0, [b"a"], 1000)
    store.add_many(0, [b"a"], 5000)
    # Still first seen at 1000: expires one window after that.
    assert store.expire(0, 1000 + HOUR + 1) == [b"a"]
    assert not store.contains(0, b"a")


def test_changelog_replay_marks_and_tombstones(make) -> None:  # type: ignore[no-untyped-def]
    store = make()
    store.assign(3)
    store.apply(3, b"a", encode_seen(1000, 3))
    store.apply(3, b"b", encode_seen(1001, 3))
    store.apply(3, b"a", None)  # expired by the previous owner
    store.apply(3, b"b", encode_seen(2000, 3))  # a re-sent mark: the first one wins
    store.apply(3, b"c", None)  # a tombstone for an id never seen here
    assert not store.contains(3, b"a")
    assert store.contains(3, b"b")
    assert store.expire(3, 1001 + HOUR + 0.5) == [b"b"]


def test_expiry_stops_at_the_first_id_still_in_the_window(make) -> None:  # type: ignore[no-untyped-def]
    store = make()
    store.assign(0)
    for i in range(10):
        store.add_many(0, [b"id%d" % i], 1000 + i * 60)
    now = 1000 + HOUR + 4 * 60 + 1  # ids 0..4 are older than the window
    assert store.expire(0, now) == [b"id0", b"id1", b"id2", b"id3", b"id4"]
    assert store.expire(0, now) == []
    assert store.contains(0, b"id5")
    assert not store.contains(0, b"id4")


def test_expiry_is_bounded_per_call(make) -> None:  # type: ignore[no-untyped-def]
    store = make(0.0)
    store.assign(0)
    store.add_many(0, [b"%d" % i for i in range(10)], 1)
    assert len(store.expire(0, 100, limit=3)) == 3
    assert len(store.expire(0, 100)) == 7


def test_forget_drops_a_revoked_partition(make) -> None:  # type: ignore[no-untyped-def]
    store = make()
    store.assign(0)
    store.assign(1)
    store.add_many(0, [b"a"], 1)
    store.add_many(1, [b"b"], 1)
    store.forget(0)
    assert store.partitions() == {1}
    assert not store.contains(0, b"a")
    assert store.expire(0, 10**9) == []


def test_reset_empties_a_partition(make) -> None:  # type: ignore[no-untyped-def]
    store = make()
    store.assign(2)
    store.add_many(2, [b"stale"], 1)
    store.set_offset(2, 40)
    store.reset(2)
    assert not store.contains(2, b"stale")
    assert store.offset(2) is None
    assert 2 in store.partitions()


def test_rocksdb_keeps_ids_and_applied_offset_across_a_reopen(tmp_path: Path) -> None:
    store = RocksSeenStore(HOUR, tmp_path / "seen")
    store.assign(0)
    assert store.offset(0) is None
    store.add_many(0, [b"a", b"b"], 1000)
    store.set_offset(0, 17)
    store.forget(0)  # revoked: closed, kept on disk
    store.assign(0)
    assert store.contains(0, b"a")
    store.close()

    again = RocksSeenStore(HOUR, tmp_path / "seen")  # a restart on the same disk
    again.assign(0)
    assert again.offset(0) == 17
    assert again.contains(0, b"b")
    assert again.count(0) >= 1
    assert again.expire(0, 1000 + HOUR + 1) == [b"a", b"b"]
    again.close()


def test_memory_store_always_recovers_from_the_beginning() -> None:
    store = SeenStore(HOUR)
    store.set_offset(0, 99)
    assert store.offset(0) is None
