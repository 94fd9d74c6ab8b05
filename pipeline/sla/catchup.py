"""The catch-up gate: after a take-over, hold a partition's alerts until its backlog is applied.

A worker that takes over a partition (a rebalance after a crash, or a restart) gets the
clock table from the changelog, but the ``cases``, ``responses`` and tick records that the
previous owner had not processed yet are still waiting in their topics. Alerts evaluated
before those are applied can be wrong: a warning or breach for a case that was answered in
time, or a repeat of an alert whose id rode on an unapplied tick. So, per newly gained
partition, the gate records the end offsets of those topics at take-over (the *targets*)
and says "not ready" until the records below them are applied, or until ``limit_s`` has
passed (a stuck partition must not mute alerts for ever; the caller logs a warning).

Held alerts are not dropped: the caller re-evaluates them once the partition is ready.

Plain bookkeeping on offsets (Kafka semantics: an *applied* offset is the next offset to
read, as committed); it knows nothing of Kafka clients, and its clock is injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["CatchUp", "Hold"]

TopicPartition = tuple[str, int]


@dataclass
class Hold:
    """One held partition: since when, and the end offsets to reach (``None``: not known yet)."""

    since: float
    targets: dict[str, int] | None = None


@dataclass
class CatchUp:
    """Which partitions may emit alerts; see the module docstring.

    ``limit_s``: the longest a partition is held, in seconds of ``monotonic()``.
    """

    limit_s: float = 60.0
    monotonic: Callable[[], float] = time.monotonic
    holds: dict[int, Hold] = field(default_factory=dict)
    #: Next offset to read per (topic, partition): what this worker applied or found committed.
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    def begin(self, partitions: Iterable[int]) -> None:
        """Hold ``partitions`` (just gained) until :meth:`set_targets` and the backlog allow."""
        now = self.monotonic()
        for partition in partitions:
            self.holds[partition] = Hold(since=now)

    def keep_only(self, partitions: Iterable[int]) -> None:
        """Forget holds on partitions this worker no longer owns."""
        owned = set(partitions)
        for partition in [p for p in self.holds if p not in owned]:
            del self.holds[partition]

    def set_targets(self, ends: Mapping[TopicPartition, int]) -> None:
        """Record the end offsets read for held partitions (others are ignored)."""
        for (topic, partition), end in ends.items():
            hold = self.holds.get(partition)
            if hold is not None:
                if hold.targets is None:
                    hold.targets = {}
                hold.targets[topic] = int(end)

    def applied(self, topic: str, partition: int, next_offset: int) -> None:
        """Records of ``topic``/``partition`` below ``next_offset`` are applied (or committed)."""
        key = (topic, partition)
        if next_offset > self.positions.get(key, -1):
            self.positions[key] = next_offset

    def pending(self, partition: int) -> dict[str, tuple[int, int]]:
        """Topics of a held partition still behind: topic -> (applied, target)."""
        hold = self.holds.get(partition)
        if hold is None or hold.targets is None:
            return {}
        behind = {}
        for topic, target in hold.targets.items():
            position = self.positions.get((topic, partition), 0)
            if position < target:
                behind[topic] = (position, target)
        return behind

    def ready(self, partition: int | None) -> bool:
        """May alerts of ``partition`` go out now? Releases the hold once caught up."""
        if partition is None:
            return True
        hold = self.holds.get(partition)
        if hold is None:
            return True
        if hold.targets is not None and not self.pending(partition):
            del self.holds[partition]
            return True
        return False

    def overdue(self) -> list[int]:
        """Held partitions past ``limit_s`` (the caller logs them, then :meth:`release`).

        Holds already caught up are released first (a partition without due cases is never
        asked :meth:`ready`).
        """
        for partition in list(self.holds):
            self.ready(partition)
        now = self.monotonic()
        return sorted(p for p, hold in self.holds.items() if now - hold.since >= self.limit_s)

    def release(self, partitions: Iterable[int]) -> None:
        """Stop holding ``partitions`` whatever their backlog."""
        for partition in partitions:
            self.holds.pop(partition, None)
