"""Replay a JSONL file of raw envelopes into ``mentions.raw``, as fast as possible or paced.

Lines go out byte for byte (a broken line is the normaliser's to dead-letter, not ours to
drop). The key is ``source:native_id`` when the line is an envelope that names them, else a
hash of the line, so replaying a file twice keys every record the same way. The cursor is
the number of lines done, with the file's size and start to notice a different file.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from connectors.base import Batch, Connector, RawRecord
from pipeline.settings import Settings

__all__ = ["ReplayConnector", "record_for_line"]


def record_for_line(line: bytes) -> RawRecord:
    key: bytes
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("source"), str) and obj.get("native_id"):
        key = f"{obj['source']}:{obj['native_id']}".encode()
    else:
        key = b"replay:" + hashlib.sha1(line, usedforsecurity=False).hexdigest().encode()
    return RawRecord(key=key, value=line)


class ReplayConnector(Connector):
    source = "replay"

    def __init__(
        self,
        path: Path,
        settings: Settings,
        *,
        name: str = "replay",
        rate: float | None = None,
        batch_size: int = 500,
        resume: bool = True,
    ) -> None:
        super().__init__(name, settings, resume=resume)
        self.path = Path(path)
        self.rate = rate
        self.batch_size = max(1, batch_size)

    def _fingerprint(self) -> str:
        with self.path.open("rb") as handle:
            return hashlib.sha1(handle.read(4096), usedforsecurity=False).hexdigest()

    async def batches(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        fingerprint = self._fingerprint()
        skip = 0
        if cursor and cursor.get("file") == fingerprint:
            skip = int(cursor.get("line", 0))
        started = time.monotonic()
        sent = 0
        line_no = 0
        records: list[RawRecord] = []
        with self.path.open("rb") as handle:
            for raw_line in handle:
                line_no += 1
                if line_no <= skip:
                    continue
                line = raw_line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                records.append(record_for_line(line))
                if len(records) >= self._chunk():
                    yield Batch(records, {"file": fingerprint, "line": line_no})
                    sent += len(records)
                    records = []
                    if self.stopping:
                        return
                    await self._pace(started, sent)
        if records or line_no > skip:
            yield Batch(records, {"file": fingerprint, "line": line_no})

    def _chunk(self) -> int:
        if self.rate is None:
            return self.batch_size
        # About ten batches a second when paced, so the rate is smooth.
        return max(1, min(self.batch_size, int(self.rate / 10) or 1))

    async def _pace(self, started: float, sent: int) -> None:
        if self.rate is None:
            await asyncio.sleep(0)
            return
        due = started + sent / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            await self.wait_or_stop(delay)
