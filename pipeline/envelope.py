"""The raw envelope (topic ``mentions.raw``, schema ``raw`` v1).

A connector wraps what a platform returned, untouched, in this envelope. Keeping the
platform's own payload lets us re-normalise history after a parser fix.

``type`` tells the normaliser how to read the payload, e.g. ``twitter.tweet``,
``facebook.comment``, ``email.rfc822``. JSON payloads travel in ``payload``; byte payloads
(a MIME message) travel base64-encoded in ``payload_b64``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from pipeline.timeutil import format_ts, parse_ts, utc_now

__all__ = ["EnvelopeError", "RawEnvelope"]

SCHEMA_VERSION = 1


class EnvelopeError(ValueError):
    """The bytes on ``mentions.raw`` are not a valid raw envelope."""


@dataclass(slots=True)
class RawEnvelope:
    source: str
    type: str
    connector: str
    fetched_at: datetime
    native_id: str | None = None
    payload: Any = None
    payload_bytes: bytes | None = None
    context: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def wrap(
        cls,
        source: str,
        type: str,
        payload: Any,
        *,
        connector: str,
        native_id: str | None = None,
        context: dict[str, Any] | None = None,
        fetched_at: datetime | None = None,
    ) -> RawEnvelope:
        """Wrap a JSON payload (``bytes`` go to ``payload_bytes``)."""
        raw = payload if isinstance(payload, bytes | bytearray) else None
        return cls(
            source=source,
            type=type,
            connector=connector,
            fetched_at=fetched_at or utc_now(),
            native_id=native_id,
            payload=None if raw is not None else payload,
            payload_bytes=bytes(raw) if raw is not None else None,
            context=context,
        )

    @property
    def key(self) -> bytes:
        """Kafka key ``source:native_id`` (so re-fetches of one post share a partition)."""
        return f"{self.source}:{self.native_id or ''}".encode()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "source": self.source,
            "type": self.type,
            "connector": self.connector,
            "fetched_at": format_ts(self.fetched_at),
            "native_id": self.native_id,
        }
        if self.payload_bytes is not None:
            out["payload_b64"] = base64.b64encode(self.payload_bytes).decode("ascii")
        else:
            out["payload"] = self.payload
        if self.context:
            out["context"] = self.context
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> RawEnvelope:
        """Parse and check an envelope. Raises ``EnvelopeError`` with a readable reason."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise EnvelopeError(f"envelope must be a JSON object, got {type(obj).__name__}")
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> RawEnvelope:
        version = obj.get("schema_version")
        if version != SCHEMA_VERSION:
            raise EnvelopeError(f"unsupported schema_version {version!r} (expected 1)")
        for name in ("source", "type", "connector"):
            if not isinstance(obj.get(name), str) or not obj[name]:
                raise EnvelopeError(f"field {name!r} must be a non-empty string")
        try:
            fetched_at = parse_ts(obj.get("fetched_at"))  # type: ignore[arg-type]
        except (ValueError, TypeError) as exc:
            raise EnvelopeError(f"field 'fetched_at': {exc}") from None
        native_id = obj.get("native_id")
        if native_id is not None and not isinstance(native_id, str | int):
            raise EnvelopeError("field 'native_id' must be a string")
        context = obj.get("context")
        if context is not None and not isinstance(context, dict):
            raise EnvelopeError("field 'context' must be an object")
        payload_bytes = None
        if "payload_b64" in obj:
            encoded = obj["payload_b64"]
            if not isinstance(encoded, str):
                raise EnvelopeError("field 'payload_b64' must be a base64 string")
            try:
                payload_bytes = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise EnvelopeError(f"field 'payload_b64' is not base64: {exc}") from None
        elif "payload" not in obj:
            raise EnvelopeError("envelope has neither 'payload' nor 'payload_b64'")
        return cls(
            source=obj["source"],
            type=obj["type"],
            connector=obj["connector"],
            fetched_at=fetched_at,
            native_id=None if native_id is None else str(native_id),
            payload=obj.get("payload"),
            payload_bytes=payload_bytes,
            context=context,
        )
