"""Dead letters (topic ``mentions.deadletter``, schema ``deadletter`` v1).

Whatever a stage cannot parse or validate becomes a dead letter carrying the reason and
the original bytes (base64), so nothing is lost silently and a fixed parser can replay it.
The id is a hash of stage and original bytes: a redelivered bad record gets the same id.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from pipeline.timeutil import format_ts, utc_now

__all__ = ["DeadLetter"]

SCHEMA_VERSION = 1
#: Longest reason kept; a parser error quoting a huge payload must not blow up the record.
MAX_REASON = 2000


@dataclass(slots=True)
class DeadLetter:
    id: str
    stage: str
    error: str
    reason: str
    failed_at: datetime
    payload: bytes
    key: bytes | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def of(
        cls,
        stage: str,
        error: str,
        reason: str,
        payload: bytes,
        *,
        key: bytes | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        failed_at: datetime | None = None,
    ) -> DeadLetter:
        """A dead letter for ``payload``; ``error`` is a short machine code, ``reason`` prose."""
        digest = hashlib.sha256(stage.encode() + b"\0" + (key or b"") + b"\0" + payload)
        return cls(
            id=f"dl:{digest.hexdigest()[:32]}",
            stage=stage,
            error=error,
            reason=reason[:MAX_REASON],
            failed_at=failed_at or utc_now(),
            payload=payload,
            key=key,
            topic=topic,
            partition=partition,
            offset=offset,
        )

    def located(self, topic: str, partition: int, offset: int) -> DeadLetter:
        """Record where the failed input was read (topic, partition, offset); returns self."""
        self.topic, self.partition, self.offset = topic, partition, offset
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "stage": self.stage,
            "error": self.error,
            "reason": self.reason,
            "failed_at": format_ts(self.failed_at),
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            "payload_b64": base64.b64encode(self.payload).decode("ascii"),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())
