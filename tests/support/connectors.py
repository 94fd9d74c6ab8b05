"""In-memory stand-ins for the publisher and checkpoint store, and a local HTTP server.

The fakes follow the real contract: ``publish`` buffers, ``flush`` makes the buffer
durable, ``save`` writes through the publisher and flushes. ``fail_flushes`` makes the next
flushes raise, to test that a cursor is never saved ahead of its records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.envelope import RawEnvelope


class MemorySink:
    def __init__(self) -> None:
        self.pending: list[tuple[str | None, bytes | None, bytes]] = []
        self.topics: dict[str | None, list[tuple[bytes | None, bytes]]] = {}
        self.fail_flushes = 0

    async def publish(self, key: bytes | None, value: bytes, topic: str | None = None) -> None:
        self.pending.append((topic, key, value))

    async def flush(self) -> None:
        if self.fail_flushes:
            self.fail_flushes -= 1
            self.pending.clear()
            raise ConnectionError("broker unavailable (test)")
        for topic, key, value in self.pending:
            self.topics.setdefault(topic, []).append((key, value))
        self.pending.clear()

    @property
    def raw(self) -> list[RawEnvelope]:
        return [RawEnvelope.from_json(v) for _, v in self.topics.get(None, [])]

    def dead(self, topic: str = "mentions.deadletter") -> list[dict[str, Any]]:
        return [orjson.loads(v) for _, v in self.topics.get(topic, [])]


class MemoryCheckpoints:
    def __init__(self, initial: dict[str, dict[str, Any]] | None = None) -> None:
        self.saved: dict[str, dict[str, Any]] = dict(initial or {})
        self.history: list[dict[str, Any]] = []

    async def load(self, name: str) -> dict[str, Any] | None:
        return self.saved.get(name)

    async def save(self, publish: Any, name: str, cursor: dict[str, Any]) -> None:
        await publish.flush()
        self.saved[name] = cursor
        self.history.append(cursor)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiServer:
    """A real aiohttp server on 127.0.0.1; tests add routes and read the request log."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.requests: list[web.Request] = []
        self.server: TestServer | None = None
        self.handlers: dict[tuple[str, str], Handler] = {}
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        handler = self.handlers.get((request.method, request.path))
        if handler is None:
            return web.json_response(
                {"error": f"no route {request.method} {request.path}"}, status=404
            )
        self.requests.append(request)
        return await handler(request)

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``method path`` (routes may be added after ``start``)."""
        self.handlers[(method, path)] = handler

    def queue(self, method: str, path: str, responses: list[Handler]) -> None:
        """Serve ``responses`` in order, repeating the last one."""
        state = {"i": 0}

        async def handler(request: web.Request) -> web.StreamResponse:
            i = min(state["i"], len(responses) - 1)
            state["i"] += 1
            return await responses[i](request)

        self.route(method, path, handler)

    async def start(self) -> str:
        self.server = TestServer(self.app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=orjson.dumps(body),
            status=status,
            headers=headers,
            content_type="application/json",
        )

    return handler


def raw_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers=headers)

    return handler


async def no_sleep(seconds: float) -> bool:
    return False
