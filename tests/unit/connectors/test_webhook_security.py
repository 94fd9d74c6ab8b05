"""The webhook security contract, one test an answer: 401 missing/bad signature, 400 stale
timestamp, 400 malformed, 413 too large (while reading), 415 wrong type, replay cache,
constant-time comparison, per-receiver secrets, and the safety net for handler bugs."""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from connectors.server import ReceiverConnector, WebhookServer
from connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookConnector, sign
from pipeline.settings import Settings
from tests.support.connectors import MemoryCheckpoints, MemorySink

SECRET_A = "secret-of-source-a-0123"
SECRET_B = "secret-of-source-b-4567"
POST = {"id": "p1", "text": "help", "created_at": "2026-11-23T09:00:00Z"}


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_A_SECRET", SECRET_A)
    monkeypatch.setenv("HOOK_B_SECRET", SECRET_B)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def receiver(name: str, sink: MemorySink, clock: Clock, **options: Any) -> WebhookConnector:
    return WebhookConnector(
        name,
        Settings(),
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
        clock=clock,
        **options,
    )


@pytest.fixture
async def url(sink: MemorySink, clock: Clock) -> AsyncIterator[str]:
    receivers: list[ReceiverConnector] = [
        receiver("a", sink, clock, path="/a", secret_env="HOOK_A_SECRET", max_body_bytes=4096),
        receiver("b", sink, clock, path="/b", secret_env="HOOK_B_SECRET", source="mastodon"),
    ]
    server = WebhookServer(receivers, host="127.0.0.1", port=0)
    await server.start()
    tasks = [asyncio.create_task(r.run()) for r in receivers]
    try:
        yield server.url
    finally:
        await server.stop()
        for r in receivers:
            r.stop()
        await asyncio.gather(*tasks)


async def send(
    url: str, body: bytes, headers: dict[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=body, headers=headers, **kwargs)


def signed(body: bytes, secret: str = SECRET_A, at: float | None = None) -> dict[str, str]:
    return {
        **sign(secret.encode(), body, int(at if at is not None else time.time())),
        "Content-Type": "application/json",
    }


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.headers["Content-Type"].startswith("application/json")
    assert body["status"] == response.status_code
    return body


async def test_a_signed_request_is_accepted(url: str, sink: MemorySink) -> None:
    body = orjson.dumps(POST)
    response = await send(f"{url}/a", body, signed(body))
    assert response.status_code == 202
    assert [e.native_id for e in sink.raw] == ["p1"]


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
async def test_a_missing_header_is_401(url: str, sink: MemorySink, missing: str) -> None:
    body = orjson.dumps(POST)
    headers = signed(body)
    del headers[missing]
    response = await send(f"{url}/a", body, headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert sink.raw == []


async def test_a_tampered_body_is_401(url: str, sink: MemorySink) -> None:
    body = orjson.dumps(POST)
    headers = signed(body)
    response = await send(f"{url}/a", body.replace(b"help", b"pwnd"), headers)
    assert response.status_code == 401
    assert "does not match" in error_of(response)["error"]
    assert sink.raw == []


async def test_each_receiver_has_its_own_secret(url: str, sink: MemorySink) -> None:
    body = orjson.dumps(POST)
    assert (await send(f"{url}/b", body, signed(body, SECRET_A))).status_code == 401
    assert (await send(f"{url}/a", body, signed(body, SECRET_B))).status_code == 401
    assert (await send(f"{url}/b", body, signed(body, SECRET_B))).status_code == 202
    assert [e.source for e in sink.raw] == ["mastodon"]


@pytest.mark.parametrize("skew", [-301, 301, -86_400])
async def test_a_timestamp_outside_the_window_is_400(
    url: str, sink: MemorySink, clock: Clock, skew: int
) -> None:
    body = orjson.dumps(POST)
    response = await send(f"{url}/a", body, signed(body, at=clock.now + skew))
    assert response.status_code == 400
    assert error_of(response)["code"] == "stale_timestamp"
    assert sink.raw == []


async def test_inside_the_window_a_replay_is_stored_once(
    url: str, sink: MemorySink, clock: Clock
) -> None:
    body = orjson.dumps(POST)
    headers = signed(body, at=clock.now)
    first = await send(f"{url}/a", body, headers)
    clock.now += 200  # still inside the 300 s window
    replay = await send(f"{url}/a", body, headers)
    clock.now += 200  # now outside: the captured request is useless
    late = await send(f"{url}/a", body, headers)
    assert (first.status_code, replay.status_code, late.status_code) == (202, 200, 400)
    assert replay.json() == {"duplicate": True}
    assert len(sink.raw) == 1


async def test_signatures_are_compared_in_constant_time(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("connectors.server.hmac.compare_digest", spy)
    body = orjson.dumps(POST)
    assert (await send(f"{url}/a", body, signed(body, SECRET_B))).status_code == 401
    assert len(calls) == 1
    assert calls[0][0].startswith(b"sha256=")


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
)
async def test_a_body_that_is_not_json_by_type_is_415(
    url: str, sink: MemorySink, ctype: str
) -> None:
    body = orjson.dumps(POST)
    response = await send(f"{url}/a", body, {**signed(body), "Content-Type": ctype})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert sink.raw == []


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "application/ld+json"])
async def test_json_types_with_parameters_are_accepted(url: str, ctype: str) -> None:
    body = orjson.dumps(POST)
    response = await send(f"{url}/a", body, {**signed(body), "Content-Type": ctype})
    assert response.status_code == 202


async def test_a_declared_large_body_is_413_before_reading(url: str, sink: MemorySink) -> None:
    body = b"[" + b" " * 10_000 + b"]"
    response = await send(f"{url}/a", body, signed(body))
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


async def test_a_chunked_upload_is_cut_off_at_the_limit(url: str, sink: MemorySink) -> None:
    """No Content-Length: the stream is refused once the bytes read pass the limit (the
    streaming check answers, not the declared-length one), nothing is stored."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(200):  # 13 MB against a 4 KB limit
            yield b" " * 65_536

    async with httpx.AsyncClient() as client:
        response = await client.post(f"{url}/a", content=chunks(), headers=signed(b"x"))
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 413
    assert error_of(response)["error"] == "body exceeds 4096 bytes"
    assert sink.raw == []
    assert sink.dead() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"id": "x", "te', "not JSON"),
        (b'"a string"', "expected a JSON object"),
        (b"", "not JSON"),
    ],
)
async def test_a_signed_malformed_body_is_400_and_dead_lettered(
    url: str, sink: MemorySink, body: bytes, reason: str
) -> None:
    response = await send(f"{url}/a", body, signed(body))
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed"
    assert reason in response.json()["error"]
    assert [d["error"] for d in sink.dead()] == ["malformed_body"]


async def test_a_handler_bug_is_dead_lettered_not_a_500(
    sink: MemorySink, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = receiver("a", sink, clock, path="/a", secret_env="HOOK_A_SECRET")

    def broken(request: web.Request, body: bytes) -> web.Response | None:
        raise KeyError("a bug")

    monkeypatch.setattr(hook, "verify", broken)
    server = WebhookServer([hook], host="127.0.0.1", port=0)
    await server.start()
    task = asyncio.create_task(hook.run())
    try:
        body = orjson.dumps(POST)
        response = await send(f"{server.url}/a", body, signed(body))
    finally:
        await server.stop()
        hook.stop()
        await task
    assert response.status_code == 202
    assert response.json() == {"accepted": 0, "dead_lettered": 1}
    letter = sink.dead()[0]
    assert letter["error"] == "internal_error"
    assert "KeyError" in letter["reason"]
    assert orjson.loads(base64.b64decode(letter["payload_b64"])) == POST


@pytest.fixture
async def mail_url(sink: MemorySink, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    from connectors.email import EmailWebhookConnector

    monkeypatch.setenv("INBOUND_MAIL_TOKEN", "mail-token-0123456789")
    hook = EmailWebhookConnector(
        "mail",
        Settings(),
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
        max_body_bytes=8192,
    )
    server = WebhookServer([hook], host="127.0.0.1", port=0)
    await server.start()
    task = asyncio.create_task(hook.run())
    try:
        yield f"{server.url}/webhooks/email"
    finally:
        await server.stop()
        hook.stop()
        await task


async def test_mail_receiver_refuses_unknown_types_with_415(
    mail_url: str, sink: MemorySink
) -> None:
    response = await send(
        mail_url,
        b"From: a@b.example\r\n\r\nhi",
        {"Content-Type": "text/plain", "X-Webhook-Token": "mail-token-0123456789"},
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert sink.raw == []


async def test_mail_receiver_cuts_a_huge_multipart_part_at_the_limit(
    mail_url: str, sink: MemorySink
) -> None:
    """Streamed (no Content-Length): the part is read in chunks against the limit."""
    head = (
        b'--bnd\r\nContent-Disposition: form-data; name="email"; filename="m.eml"\r\n'
        b"Content-Type: message/rfc822\r\n\r\n"
    )

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        for _ in range(50):
            yield b"x" * 65_536
        yield b"\r\n--bnd--\r\n"

    async with httpx.AsyncClient() as client:
        response = await client.post(
            mail_url,
            content=chunks(),
            headers={
                "X-Webhook-Token": "mail-token-0123456789",
                "Content-Type": "multipart/form-data; boundary=bnd",
            },
        )
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 413
    assert sink.raw == []
