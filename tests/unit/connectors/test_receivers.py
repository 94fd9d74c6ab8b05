"""Generic and Facebook webhooks through the shared server, on a real socket."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.facebook import FacebookWebhookConnector
from connectors.server import ReceiverConnector, WebhookServer
from connectors.webhook import WebhookConnector, sign
from pipeline.brand import BrandAccounts
from pipeline.normalize import normalize
from pipeline.settings import Settings
from tests.support.connectors import MemoryCheckpoints, MemorySink, no_sleep

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("FACEBOOK_APP_SECRET", SECRET)
    monkeypatch.setenv("FACEBOOK_VERIFY_TOKEN", "verify-me")


async def serve(
    receivers: list[ReceiverConnector],
) -> AsyncIterator[tuple[str, list[asyncio.Task[int]]]]:
    server = WebhookServer(receivers, host="127.0.0.1", port=0)
    await server.start()
    tasks = [asyncio.create_task(r.run()) for r in receivers]
    try:
        yield server.url, tasks
    finally:
        await server.stop()
        for r in receivers:
            r.stop()
        await asyncio.gather(*tasks)


@pytest.fixture
async def generic(sink: MemorySink) -> AsyncIterator[tuple[str, WebhookConnector]]:
    connector = WebhookConnector(
        "hooks",
        Settings(),
        source="webhook",
        max_body_bytes=4096,
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
    )
    async for url, _ in serve([connector]):
        yield url, connector


def post(i: str = "p1") -> dict[str, Any]:
    return {
        "id": i,
        "text": "my parcel never arrived",
        "created_at": "2026-11-23T09:00:00Z",
        "author": {"id": "u1", "handle": "annie"},
    }


async def test_signed_post_is_stored_before_the_202(
    generic: tuple[str, WebhookConnector], sink: MemorySink
) -> None:
    url, _ = generic
    body = orjson.dumps([post("p1"), post("p2"), {"text": "no id"}])
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{url}/webhooks/generic",
            content=body,
            headers=sign(SECRET.encode(), body, int(time.time())),
        )
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "dead_lettered": 1}
    # The 202 came after the flush: the records are already there.
    assert [e.native_id for e in sink.raw] == ["p1", "p2"]
    assert normalize(sink.raw[0], BrandAccounts()).text == "my parcel never arrived"
    assert sink.dead()[0]["error"] == "invalid_item"


@pytest.mark.parametrize(
    ("headers", "reason", "status"),
    [
        ({}, "missing", 401),
        (
            {"X-Mentionflow-Timestamp": "now", "X-Mentionflow-Signature": "sha256=00"},
            "Unix seconds",
            401,
        ),
        ("stale", "window", 400),
        ("wrong", "does not match", 401),
    ],
)
async def test_bad_signatures_get_401_and_stale_timestamps_400(
    generic: tuple[str, WebhookConnector],
    sink: MemorySink,
    headers: Any,
    reason: str,
    status: int,
) -> None:
    url, _ = generic
    body = orjson.dumps(post())
    if headers == "stale":
        headers = sign(SECRET.encode(), body, int(time.time()) - 3600)
    elif headers == "wrong":
        headers = sign(b"another-secret-entirely", body, int(time.time()))
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{url}/webhooks/generic", content=body, headers=headers)
    assert response.status_code == status
    assert reason in response.json()["error"]
    assert response.json()["code"] == ("stale_timestamp" if status == 400 else "unauthorized")
    assert sink.raw == []


async def test_oversized_and_unparseable_bodies(
    generic: tuple[str, WebhookConnector], sink: MemorySink
) -> None:
    url, _ = generic
    big = b"[" + b" " * 5000 + b"]"
    broken = b'{"id": "x", "te'
    now = int(time.time())
    async with httpx.AsyncClient() as client:
        too_big = await client.post(
            f"{url}/webhooks/generic", content=big, headers=sign(SECRET.encode(), big, now)
        )
        bad = await client.post(
            f"{url}/webhooks/generic", content=broken, headers=sign(SECRET.encode(), broken, now)
        )
    assert too_big.status_code == 413
    assert bad.status_code == 400
    assert sink.dead()[0]["error"] == "malformed_body"


async def test_a_receiver_that_cannot_store_answers_503(sink: MemorySink) -> None:
    sink.fail_flushes = 100
    connector = WebhookConnector(
        "hooks",
        Settings(),
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
        ack_timeout_s=0.5,
    )
    server = WebhookServer([connector], host="127.0.0.1", port=0)
    await server.start()
    task = asyncio.create_task(connector.run())
    body = orjson.dumps(post())
    try:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.url}/webhooks/generic",
                content=body,
                headers=sign(SECRET.encode(), body, int(time.time())),
            )
        assert response.status_code == 503
    finally:
        await server.stop()
        connector.stop()
        task.cancel()
        with pytest.raises((asyncio.CancelledError, ConnectionError)):
            await task


def fb_signature(body: bytes) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": "sha256="
        + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }


async def test_facebook_handshake_signature_messenger_and_feed_changes(sink: MemorySink) -> None:
    connector = FacebookWebhookConnector(
        "fb-hook",
        Settings(),
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
    )
    body = orjson.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "PAGE1",
                    "time": 1763892000000,
                    "messaging": [
                        {
                            "sender": {"id": "PSID7"},
                            "recipient": {"id": "PAGE1"},
                            "timestamp": 1763892000000,
                            "message": {"mid": "m_abc", "text": "My order 1234 is missing"},
                        },
                        {
                            "sender": {"id": "PSID7"},
                            "recipient": {"id": "PAGE1"},
                            "timestamp": 1763892001000,
                            "read": {"watermark": 1763892000000},
                        },
                    ],
                },
                {
                    "id": "PAGE1",
                    "time": 1763892005,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "item": "comment",
                                "verb": "add",
                                "comment_id": "111_222",
                                "post_id": "PAGE1_111",
                                "parent_id": "PAGE1_111",
                                "from": {"id": "PAGE1", "name": "RailCo"},
                                "message": "Sorry to hear that, DM us",
                                "created_time": 1763892005,
                            },
                        },
                        {
                            "field": "feed",
                            "value": {"item": "reaction", "verb": "add", "post_id": "PAGE1_111"},
                        },
                    ],
                },
            ],
        }
    )
    async for url, _ in serve([connector]):
        async with httpx.AsyncClient() as client:
            ok = await client.get(
                f"{url}/webhooks/facebook",
                params={
                    "hub.mode": "subscribe",
                    "hub.verify_token": "verify-me",
                    "hub.challenge": "1158201444",
                },
            )
            wrong = await client.get(
                f"{url}/webhooks/facebook",
                params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
            )
            unsigned = await client.post(
                f"{url}/webhooks/facebook",
                content=body,
                headers={"X-Hub-Signature-256": "sha256=deadbeef"},
            )
            signed = await client.post(
                f"{url}/webhooks/facebook", content=body, headers=fb_signature(body)
            )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert wrong.status_code == 403
    assert unsigned.status_code == 401
    assert signed.status_code == 202
    assert [(e.type, e.native_id) for e in sink.raw] == [
        ("facebook.messenger", "m_abc"),
        ("facebook.comment", "111_222"),
    ]
    brand = BrandAccounts()
    dm, reply = (normalize(e, brand) for e in sink.raw)
    assert dm.is_direct
    assert dm.text == "My order 1234 is missing"
    assert reply.is_brand  # the page's own reply: stops the SLA clock
    assert reply.in_reply_to == "facebook:PAGE1_111"


async def test_instagram_comment_webhooks_through_the_meta_receiver(sink: MemorySink) -> None:
    connector = FacebookWebhookConnector(
        "meta-hook",
        Settings(),
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
    )
    body = orjson.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": "17841400",
                    "time": 1763892000,
                    "changes": [
                        {
                            "field": "comments",
                            "value": {
                                "from": {"id": "232323232", "username": "cust"},
                                "media": {"id": "m1", "media_product_type": "FEED"},
                                "id": "17865799348089039",
                                "text": "Where is my refund?",
                            },
                        },
                        {
                            "field": "comments",
                            "value": {
                                "from": {"id": "17841400", "username": "railco"},
                                "media": {"id": "m1"},
                                "id": "17865799348089040",
                                "parent_id": "17865799348089039",
                                "text": "DM us please",
                            },
                        },
                        {
                            "field": "mentions",
                            "value": {
                                "media_id": "17887498072083520",
                                "comment_id": "17887498072083521",
                            },
                        },
                    ],
                }
            ],
        }
    )
    async for url, _ in serve([connector]):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{url}/webhooks/facebook", content=body, headers=fb_signature(body)
            )
    assert response.status_code == 202
    assert [(e.source, e.type) for e in sink.raw] == [("instagram", "instagram.comment")] * 2
    question, answer = (normalize(e, BrandAccounts()) for e in sink.raw)
    assert question.in_reply_to == "instagram:m1"
    assert not question.is_brand
    assert answer.is_brand
    assert answer.in_reply_to == "instagram:17865799348089039"
    assert connector.ignored == 1


async def test_an_identical_signed_request_is_stored_once(
    generic: tuple[str, WebhookConnector], sink: MemorySink
) -> None:
    url, _ = generic
    body = orjson.dumps(post("dup"))
    headers = sign(SECRET.encode(), body, int(time.time()))
    async with httpx.AsyncClient() as client:
        first = await client.post(f"{url}/webhooks/generic", content=body, headers=headers)
        again = await client.post(f"{url}/webhooks/generic", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"duplicate": True}
    assert [e.native_id for e in sink.raw] == ["dup"]


async def test_a_receiver_whose_connector_died_answers_503_at_once(sink: MemorySink) -> None:
    sink.fail_flushes = 1000
    connector = WebhookConnector(
        "hooks",
        Settings(),
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
        ack_timeout_s=0.3,
    )
    connector.retry_policy = type(connector.retry_policy)(attempts=1)
    server = WebhookServer([connector], host="127.0.0.1", port=0)
    await server.start()
    task = asyncio.create_task(connector.run())
    body = orjson.dumps(post())
    try:
        async with httpx.AsyncClient() as client:
            first = await client.post(
                f"{server.url}/webhooks/generic",
                content=body,
                headers=sign(SECRET.encode(), body, int(time.time())),
            )
            with pytest.raises(ConnectionError):
                await task
            assert connector.accepting is False
            second = await client.post(
                f"{server.url}/webhooks/generic",
                content=body,
                headers=sign(SECRET.encode(), body, int(time.time())),
            )
        assert (first.status_code, second.status_code) == (503, 503)
    finally:
        await server.stop()


async def test_requests_queued_together_share_one_batch_and_flush(sink: MemorySink) -> None:
    checkpoints = MemoryCheckpoints()
    connector = WebhookConnector(
        "hooks", Settings(), publisher=sink, checkpoints=checkpoints, registry=CollectorRegistry()
    )
    from connectors.base import RawRecord

    records = [RawRecord(f"webhook:{i}".encode(), b"{}") for i in range(3)]
    waiting = [asyncio.create_task(connector.submit([r])) for r in records]
    await asyncio.sleep(0)  # all three queued before the connector starts draining
    task = asyncio.create_task(connector.run())
    assert await asyncio.gather(*waiting) == [True, True, True]
    connector.stop()
    await task
    assert connector.batches_done == 1
    assert len(sink.topics[None]) == 3


async def test_instagram_mentions_are_looked_up_and_a_failed_lookup_answers_503(
    sink: MemorySink, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp import web as aioweb

    from tests.support.connectors import json_response

    monkeypatch.setenv("INSTAGRAM_TOKEN", "ig-token-0123456789")
    state = {"fail": True}

    async def lookup(request: aioweb.Request) -> aioweb.StreamResponse:
        assert request.query["access_token"] == "ig-token-0123456789"
        assert "appsecret_proof" in request.query
        if state["fail"]:
            return await json_response(
                {
                    "error": {
                        "message": "An unexpected error has occurred.",
                        "code": 2,
                        "type": "OAuthException",
                    }
                },
                500,
            )(request)
        fields = request.query["fields"]
        if fields.startswith("mentioned_comment.comment_id(17900000000000002)"):
            return await json_response(
                {
                    "mentioned_comment": {
                        "id": "17900000000000002",
                        "text": "@railco my bag!",
                        "timestamp": "2026-11-23T10:00:00+0000",
                        "username": "cust",
                        "media": {
                            "id": "17800000000000001",
                            "permalink": "https://www.instagram.com/p/abc/",
                        },
                    },
                    "id": "17841400",
                }
            )(request)
        assert fields.startswith("mentioned_media.media_id(17800000000000009)")
        return await json_response(
            {
                "mentioned_media": {
                    "id": "17800000000000009",
                    "caption": "Late again @railco",
                    "timestamp": "2026-11-23T09:00:00+0000",
                    "username": "cust",
                    "permalink": "https://www.instagram.com/p/xyz/",
                    "media_type": "IMAGE",
                },
                "id": "17841400",
            }
        )(request)

    api.route("GET", "/v21.0/17841400", lookup)
    connector = FacebookWebhookConnector(
        "meta-hook",
        Settings(),
        instagram_token_env="INSTAGRAM_TOKEN",
        base_url=await api.start(),
        publisher=sink,
        checkpoints=MemoryCheckpoints(),
        registry=CollectorRegistry(),
    )
    connector.instagram_api.sleep = no_sleep  # type: ignore[union-attr]
    body = orjson.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": "17841400",
                    "time": 1763892000,
                    "changes": [
                        {
                            "field": "mentions",
                            "value": {
                                "media_id": "17800000000000001",
                                "comment_id": "17900000000000002",
                            },
                        },
                        {"field": "mentions", "value": {"media_id": "17800000000000009"}},
                    ],
                }
            ],
        }
    )
    async for url, _ in serve([connector]):
        async with httpx.AsyncClient() as client:
            failed = await client.post(
                f"{url}/webhooks/facebook", content=body, headers=fb_signature(body)
            )
            assert sink.raw == []
            state["fail"] = False
            ok = await client.post(
                f"{url}/webhooks/facebook", content=body, headers=fb_signature(body)
            )
    assert (failed.status_code, ok.status_code) == (503, 202)
    comment, media = (normalize(e, BrandAccounts()) for e in sink.raw)
    assert comment.text == "@railco my bag!"
    assert comment.url == "https://www.instagram.com/p/abc/"
    assert comment.in_reply_to == "instagram:17800000000000001"
    assert media.kind == "post"
    assert media.text == "Late again @railco"
