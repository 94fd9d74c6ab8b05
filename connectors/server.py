"""The HTTP server every receiving connector (webhooks) shares, and their base class.

A :class:`ReceiverConnector` declares routes; a request handler turns the body into records
and calls :meth:`ReceiverConnector.submit`, which queues a batch and waits until the base has
published it (broker acknowledgement). Only then does the sender get its 2xx, so a sender
that sees an error or a timeout retries and nothing acknowledged is ever lost. If the
batch is not durable within ``ack_timeout_s`` the answer is 503 (the sender retries; the
normaliser's dedupe absorbs a double).

:class:`WebhookServer` is one aiohttp application serving every receiver's routes plus
``GET /healthz``. Bodies above ``max_body_bytes`` are refused with 413: at once when the
declared ``Content-Length`` is too large, else as soon as the bytes read pass the limit
(a chunked upload is never buffered beyond it). Error answers are JSON
``{"error", "code", "status"}`` (:func:`problem`); a handler that raises (a bug) answers as
if the request had been dead-lettered, and it has been (:meth:`ReceiverConnector.guard`).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from connectors.base import Batch, Connector, RawRecord
from pipeline.deadletter import DeadLetter
from pipeline.settings import Settings

__all__ = [
    "ReceiverConnector",
    "Route",
    "WebhookServer",
    "encode",
    "hmac_sha256_hex",
    "problem",
    "require_json",
    "same",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]

#: Most records merged into one batch from queued requests.
COALESCE_RECORDS = 1000
#: Seconds between last-success refreshes of an idle receiver.
IDLE_HEARTBEAT_S = 60.0
#: Default largest request body accepted (bytes); e-mail receivers raise it.
MAX_BODY = 1024 * 1024


def hmac_sha256_hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality (timing must not reveal how much of a signature matched)."""
    a = a.encode() if isinstance(a, str) else a
    b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a, b)


#: Machine codes of the error answers (``code`` in the JSON body), by status.
CODES = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    413: "too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}
#: Content types a JSON receiver accepts; a request without Content-Type is read as JSON.
JSON_TYPES = ("application/json", "text/json")
#: The body :meth:`ReceiverConnector.read_body` read in this request's task, for the safety
#: net (:meth:`ReceiverConnector.guard` runs the handler in the same task and context).
_BODY: contextvars.ContextVar[bytes] = contextvars.ContextVar("mentionflow_body", default=b"")


def problem(status: int, detail: str, code: str | None = None) -> web.Response:
    """A small JSON error body ``{"error": prose, "code": machine code, "status": n}``
    that says what is wrong (never echoes secrets or the body)."""
    return web.json_response(
        {"error": detail, "code": code or CODES.get(status, "error"), "status": status},
        status=status,
    )


def require_json(request: web.Request) -> web.Response | None:
    """None when the request declares a JSON body (or no type at all), else a 415."""
    if "Content-Type" not in request.headers:
        return None
    ctype = request.content_type
    if ctype in JSON_TYPES or (ctype.startswith("application/") and ctype.endswith("+json")):
        return None
    return problem(415, f"Content-Type {ctype!r} is not application/json")


def encode(value: Any) -> bytes | None:
    """``value`` as JSON bytes, or None when it cannot be re-encoded (orjson refuses more
    than 254 levels of nesting; it parses up to 1024)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None


class ReceiverConnector(Connector):
    """A connector fed by HTTP requests (see module docstring). Cursor: none (senders retry)."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        path: str,
        max_body_bytes: int = MAX_BODY,
        ack_timeout_s: float = 15.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, settings, **kwargs)
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.ack_timeout_s = ack_timeout_s
        # Bounded: a burst beyond it waits in the handlers (backpressure), not in memory.
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=1000)
        self.accepting = True

    def routes(self) -> list[Route]:
        """``(method, path, handler)`` triples this receiver serves."""
        return [("POST", self.path, self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def read_body(self, request: web.Request) -> bytes | web.Response:
        """The body, or a 413 when it is (or declares to be) larger than the limit."""
        declared = request.content_length
        if declared is not None and declared > self.max_body_bytes:
            return problem(413, f"body of {declared} bytes exceeds {self.max_body_bytes}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_body_bytes:
                return problem(413, f"body exceeds {self.max_body_bytes} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        _BODY.set(body)
        return body

    def guard(self, handler: Handler) -> Handler:
        """``handler`` behind a safety net: an exception escaping it (a bug) is logged, the
        body read so far is dead-lettered (``internal_error``, so a fixed receiver can
        replay it) and the sender gets the answer of a dead-lettered request (202, or 503
        when even the dead letter cannot be stored), never a bare 500."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            _BODY.set(b"")
            try:
                return await handler(request)
            except web.HTTPException:
                raise
            except Exception as exc:
                log.exception("%s: request handler failed", self.name)
                self.count_error("internal")
                body = _BODY.get()
                letter = self.dead_letter(
                    "internal_error",
                    f"{request.method} {request.path}: {type(exc).__name__}: {str(exc)[:300]}",
                    body,
                )
                return await self.accepted([], [letter])

        return guarded

    async def submit(
        self, records: list[RawRecord], dead_letters: list[DeadLetter] | None = None
    ) -> bool:
        """Queue a batch and wait until it is durable; False on timeout or shutdown."""
        if not self.accepting or self.stopping:
            return False
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(
            Batch(records, None, dead_letters=list(dead_letters or []), acks=[ack])
        )
        try:
            await asyncio.wait_for(asyncio.shield(ack), timeout=self.ack_timeout_s)
        except TimeoutError:
            log.error("%s: batch not acknowledged within %.0f s", self.name, self.ack_timeout_s)
            return False
        return True

    async def accepted(
        self, records: list[RawRecord], letters: list[DeadLetter], **extra: Any
    ) -> web.Response:
        if not await self.submit(records, letters):
            return problem(503, "not stored yet, retry later")
        return web.json_response(
            {"accepted": len(records), "dead_lettered": len(letters), **extra}, status=202
        )

    async def close(self) -> None:
        # Not publishing any more: senders get 503 at once instead of after a timeout.
        self.accepting = False
        await super().close()

    def _coalesce(self, batch: Batch) -> Batch:
        """Merge the requests already queued into one batch: one flush acknowledges them all
        (concurrent senders then cost one broker round trip per batch, not per request)."""
        while len(batch.records) < COALESCE_RECORDS and not self._queue.empty():
            more = self._queue.get_nowait()
            batch.records.extend(more.records)
            batch.dead_letters.extend(more.dead_letters)
            batch.acks.extend(more.acks)
        return batch

    async def batches(self, cursor: dict[str, Any] | None) -> AsyncIterator[Batch]:
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                if self._queue.empty() and self.stopping:
                    return
                # An idle receiver is healthy: refresh last-success while it waits, so the
                # "connector silent" alert means "cannot store", not "nobody wrote".
                self.mark_alive()
                get = asyncio.ensure_future(self._queue.get())
                done, _ = await asyncio.wait(
                    {get, stop}, timeout=IDLE_HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    get.cancel()
                    continue
                if get in done:
                    yield self._coalesce(get.result())
                else:
                    get.cancel()
                    # Drain what was accepted before the stop: those senders are waiting.
                    while not self._queue.empty():
                        yield self._queue.get_nowait()
                    return
        finally:
            stop.cancel()


class WebhookServer:
    """One aiohttp server for every receiver; ``port=0`` picks a free port (see ``port``)."""

    def __init__(
        self, receivers: list[ReceiverConnector], host: str = "0.0.0.0", port: int = 8088
    ) -> None:
        self.receivers = receivers
        self.host = host
        self.port = port
        self.app = web.Application(
            client_max_size=max([MAX_BODY, *(r.max_body_bytes for r in receivers)])
        )
        self.app.router.add_get("/healthz", self._health)
        for receiver in receivers:
            for method, path, handler in receiver.routes():
                self.app.router.add_route(method, path, receiver.guard(handler))
        self._runner: web.AppRunner | None = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "receivers": [r.name for r in self.receivers]})

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server: Any = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("webhook server listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (their batches drain), then close."""
        for receiver in self.receivers:
            receiver.accepting = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"
