from __future__ import annotations

from typing import Any

from pipeline.cases.journal import Overlay, Prefixed, journaled


def test_overlay_buffers_writes_and_deletes() -> None:
    base: dict[str, Any] = {"a": 1, "b": 2}
    view = Overlay(base)
    view["a"] = 10
    del view["b"]
    view["c"] = 3
    assert dict(view) == {"a": 10, "c": 3}
    assert base == {"a": 1, "b": 2}
    assert view.writes() == {"a": 10, "b": None, "c": 3}


def test_prefixed_view() -> None:
    base: dict[str, Any] = {"k:x": 1, "c:x": 2}
    keys = Prefixed(base, "k:")
    keys["y"] = 5
    assert dict(keys) == {"x": 1, "y": 5}
    assert base["k:y"] == 5


def test_redelivered_input_replays_the_same_writes_and_sends() -> None:
    table: dict[str, Any] = {"n": 0}
    calls = 0

    def step(view: Overlay) -> list[tuple[str, str, Any]]:
        nonlocal calls
        calls += 1
        first = view["n"] == 0
        view["n"] = view["n"] + 1
        # Like a merge: only the first computation has something to send.
        return [("out", "k", "merge")] if first else []

    sends, replayed = journaled(table, ("t", 0, 7), step)
    assert sends == [("out", "k", "merge")]
    assert not replayed
    # Crash after the state was written but before the sends went out: redelivery.
    again, replayed = journaled(table, ("t", 0, 7), step)
    assert again == sends
    assert replayed
    assert calls == 1
    assert table["n"] == 1
    # A different offset is a different input.
    later, _ = journaled(table, ("t", 0, 8), step)
    assert later == []
    assert table["n"] == 2
