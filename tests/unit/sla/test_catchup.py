"""The catch-up gate: held partitions, targets, applied offsets, the time limit."""

from __future__ import annotations

from pipeline.sla.catchup import CatchUp


class Mono:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate(limit_s: float = 60.0) -> tuple[CatchUp, Mono]:
    mono = Mono()
    return CatchUp(limit_s=limit_s, monotonic=mono), mono


def test_unheld_partitions_are_ready() -> None:
    g, _ = gate()
    assert g.ready(0)
    assert g.ready(None)


def test_held_until_targets_known_and_reached() -> None:
    g, _ = gate()
    g.begin([1, 3])
    assert not g.ready(1)  # end offsets not read yet
    g.set_targets({("cases", 1): 4, ("responses", 1): 2, ("cases", 3): 0, ("responses", 3): 0})
    assert g.ready(3)  # nothing waiting
    assert not g.ready(1)
    g.applied("cases", 1, 4)
    assert g.pending(1) == {"responses": (0, 2)}
    assert not g.ready(1)
    g.applied("responses", 1, 2)
    assert g.ready(1)
    assert g.holds == {}


def test_committed_offsets_count_and_positions_never_go_back() -> None:
    g, _ = gate()
    g.begin([0])
    g.applied("responses", 0, 7)  # committed by the previous owner
    g.applied("responses", 0, 5)  # an older record seen again
    g.set_targets({("responses", 0): 7})
    assert g.ready(0)


def test_targets_of_partitions_not_held_are_ignored() -> None:
    g, _ = gate()
    g.begin([0])
    g.set_targets({("cases", 0): 0, ("cases", 2): 9})
    assert g.ready(0)
    assert g.ready(2)
    assert g.holds == {}


def test_limit_releases_a_stuck_partition() -> None:
    g, mono = gate(limit_s=60.0)
    g.begin([2])
    g.set_targets({("cases", 2): 10})
    mono.now += 59.9
    assert g.overdue() == []
    mono.now += 0.1
    assert g.overdue() == [2]
    assert not g.ready(2)  # the caller decides: log, then release
    g.release(g.overdue())
    assert g.ready(2)


def test_lost_partition_forgets_its_hold_and_regain_holds_again() -> None:
    g, _ = gate()
    g.begin([0, 1])
    g.keep_only([1])
    assert g.ready(0)
    assert not g.ready(1)
    g.begin([0])
    assert not g.ready(0)


def test_caught_up_partition_is_not_reported_overdue() -> None:
    g, mono = gate(limit_s=1.0)
    g.begin([0, 1])
    g.set_targets({("cases", 0): 0, ("cases", 1): 3})
    mono.now += 5
    assert g.overdue() == [1]
    assert list(g.holds) == [1]
