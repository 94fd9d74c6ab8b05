"""Generic webhook ingest: any system that can sign a JSON POST can feed the pipeline.

``POST <path>`` with headers

- ``X-Mentionflow-Timestamp``: Unix time in seconds when the sender signed;
- ``X-Mentionflow-Signature``: ``sha256=<hex>``, the HMAC-SHA256 with the shared secret of
  ``<timestamp>.`` followed by the raw body bytes.

The body is one post object, a JSON array of them or ``{"items": [...]}`` in the shape
:mod:`pipeline.normalize.webhook` reads (``id``, ``text``, ``created_at``, ``author``, ...).
Answers: 202 ``{"accepted": n, "dead_lettered": m}`` once stored (an identical signed request
seen again within the window is answered 200 ``{"duplicate": true}`` without publishing it
twice; only stored requests are remembered, so a sender's retry after a 503 goes through).
Errors are JSON ``{"error": prose, "code": machine code, "status": n}``:
415 ``unsupported_media_type`` for a Content-Type other than JSON (none at all is read as
JSON); 413 ``too_large`` for a body above ``max_body_bytes`` (refused while reading);
401 ``unauthorized`` for a missing or wrong signature; 400 ``stale_timestamp`` for a
correctly signed request whose timestamp is outside ``window_s`` (a replay of a captured
request, or a sender clock that is off: re-sign and send again); 400 ``malformed`` for a
signed body that is not JSON or not an object/array (also dead-lettered with the reason:
the sender has a bug worth seeing). Items without a string ``id`` (or nested too deeply to
re-encode) are dead-lettered and the rest accepted. The secret comes from the environment
variable named in the config (``WEBHOOK_SECRET`` by default, one per receiver instance, so
each source has its own); the comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from connectors.base import RawRecord
from connectors.server import (
    ReceiverConnector,
    encode,
    hmac_sha256_hex,
    problem,
    require_json,
    same,
)
from pipeline.deadletter import DeadLetter
from pipeline.mention import SOURCES
from pipeline.settings import Settings, SettingsError

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookConnector", "sign"]

SIGNATURE_HEADER = "X-Mentionflow-Signature"
TIMESTAMP_HEADER = "X-Mentionflow-Timestamp"


def sign(secret: bytes, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers a sender adds (used by tests and documented for integrators)."""
    mac = hmac_sha256_hex(secret, f"{timestamp}.".encode() + body)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"sha256={mac}"}


def secret_from_env(name: str, what: str) -> bytes:
    value = os.environ.get(name, "")
    if len(value) < 16:
        raise SettingsError(f"{name} (environment): expected {what} of at least 16 characters")
    return value.encode()


class WebhookConnector(ReceiverConnector):
    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        path: str = "/webhooks/generic",
        source: str = "webhook",
        secret_env: str = "WEBHOOK_SECRET",
        window_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, settings, path=path, **kwargs)
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        self.source = source
        self.secret = secret_from_env(secret_env, "a shared webhook secret")
        self.window_s = window_s
        self.clock = clock
        # Signatures of stored requests -> when they leave the window (bounded by the window).
        self._stored: OrderedDict[str, float] = OrderedDict()

    def verify(self, request: web.Request, body: bytes) -> web.Response | None:
        """None when the request is authentic and fresh, else the 4xx answer saying why.

        401: a header is missing or the signature does not match; 400 ``stale_timestamp``:
        the signed time is outside ``window_s`` (a replay, or the sender's clock is off).
        The signature is checked first, so only the secret's holder learns about clocks.
        """
        stamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
        signature = request.headers.get(SIGNATURE_HEADER, "").strip()
        if not stamp or not signature:
            return problem(401, f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
            return problem(401, f"{TIMESTAMP_HEADER} must be Unix seconds")
        expected = "sha256=" + hmac_sha256_hex(self.secret, stamp.encode() + b"." + body)
        if not same(expected, signature):
            return problem(401, "signature does not match")
        if abs(self.clock() - int(stamp)) > self.window_s:
            return problem(
                400,
                f"timestamp outside the {self.window_s:.0f} s window (clock skew or replay)",
                "stale_timestamp",
            )
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        wrong_type = require_json(request)
        if wrong_type is not None:
            self.count_error("unsupported_media_type")
            return wrong_type
        body = await self.read_body(request)
        if isinstance(body, web.Response):
            self.count_error("too_large")
            return body
        refused = self.verify(request, body)
        if refused is not None:
            self.count_error("unauthorized" if refused.status == 401 else "stale")
            return refused
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            letter = self.dead_letter("malformed_body", f"webhook body is not JSON ({exc})", body)
            if not await self.submit([], [letter]):
                return problem(503, "not stored yet, retry later")
            return problem(400, f"body is not JSON: {exc}")
        items = parsed.get("items") if isinstance(parsed, dict) and "items" in parsed else parsed
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            letter = self.dead_letter(
                "malformed_body", "expected an object or an array of objects", body
            )
            if not await self.submit([], [letter]):
                return problem(503, "not stored yet, retry later")
            return problem(400, 'expected a JSON object, an array of objects or {"items": [...]}')
        signature = request.headers[SIGNATURE_HEADER].strip()
        now = self.clock()
        while self._stored and next(iter(self._stored.values())) < now:
            self._stored.popitem(last=False)
        if signature in self._stored:
            return web.json_response({"duplicate": True}, status=200)
        records: list[RawRecord] = []
        letters: list[DeadLetter] = []
        for i, item in enumerate(items):
            encoded = encode(item)
            if encoded is None:
                # Nested beyond what can be re-encoded: keep the whole body as the evidence.
                letters.append(
                    self.dead_letter("invalid_item", f"item {i} is nested too deeply", body)
                )
                continue
            native = item.get("id") if isinstance(item, dict) else None
            if isinstance(native, int) and not isinstance(native, bool):
                native = str(native)
            if not isinstance(native, str) or not native:
                letters.append(
                    self.dead_letter("invalid_item", f"item {i} has no string 'id'", encoded)
                )
                continue
            records.append(self.envelope("webhook.post", item, native))
        response = await self.accepted(records, letters)
        if response.status == 202:
            self._stored[signature] = now + 2 * self.window_s
        return response
