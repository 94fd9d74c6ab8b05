"""A time watermark for listings that return newest first and cannot be asked "after id X".

``{"ts": <unix seconds>, "ids": [ids seen at exactly ts]}``: an item is new when it is newer
than ``ts``, or at ``ts`` and not among ``ids`` (several items share a second). The pass
builds the next watermark as it goes and the connector checkpoints it when the pass is
complete, so a crash mid-pass re-reads (at-least-once) and never skips.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Watermark"]


class Watermark:
    def __init__(self, state: dict[str, Any] | None = None) -> None:
        state = state or {}
        self.ts = float(state.get("ts", 0.0))
        self.ids: set[str] = {str(i) for i in state.get("ids", [])}
        self._next_ts = self.ts
        self._next_ids = set(self.ids)

    def is_new(self, ts: float, item_id: str) -> bool:
        return ts > self.ts or (ts == self.ts and item_id not in self.ids)

    def older(self, ts: float, slack_s: float = 0.0) -> bool:
        """Is ``ts`` before the watermark (minus ``slack_s``)? Listing passes stop there."""
        return ts < self.ts - slack_s

    def see(self, ts: float, item_id: str) -> None:
        if ts > self._next_ts:
            self._next_ts, self._next_ids = ts, {item_id}
        elif ts == self._next_ts:
            self._next_ids.add(item_id)

    def next_state(self) -> dict[str, Any]:
        return {"ts": self._next_ts, "ids": sorted(self._next_ids)}
