from pipeline.dedupe import SeenIndex, decode_seen, encode_seen


def test_value_roundtrip_and_old_format() -> None:
    assert decode_seen(encode_seen(1700000000.7, 3)) == (1700000000.0, 3)
    assert decode_seen(b"1700000000") == (1700000000.0, -1)
    assert decode_seen(b"garbage:x") == (0.0, -1)


def test_expires_only_entries_older_than_the_window_per_partition() -> None:
    index = SeenIndex(window_s=100)
    index.add(0, b"a", 10)
    index.add(0, b"b", 50)
    index.add(1, b"c", 10)
    index.add(0, b"d", 150)
    assert list(index.expired(0, now=160)) == [b"a", b"b"]
    assert list(index.expired(0, now=160)) == []
    assert list(index.expired(1, now=160)) == [b"c"]
    assert len(index) == 1


def test_limit_bounds_the_work_per_call() -> None:
    index = SeenIndex(window_s=1)
    for i in range(10):
        index.add(0, str(i).encode(), i)
    assert len(list(index.expired(0, now=100, limit=3))) == 3
    assert len(index) == 7


def test_load_rebuilds_order_after_restart() -> None:
    index = SeenIndex(window_s=10)
    assert not index.loaded(2)
    index.load(2, [(b"late", 30.0), (b"early", 5.0)])
    assert index.loaded(2)
    assert list(index.expired(2, now=20)) == [b"early"]
    index.forget(2)
    assert not index.loaded(2)
