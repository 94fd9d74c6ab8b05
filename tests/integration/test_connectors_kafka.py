"""Connectors against the real broker: records in mentions.raw, dead letters, cursor resume
from the compacted checkpoint topic, and a webhook acknowledged only once stored."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from connectors.checkpoint import CheckpointStore
from connectors.server import WebhookServer
from connectors.twitter import TwitterSearchConnector
from connectors.webhook import WebhookConnector, sign
from pipeline.envelope import RawEnvelope
from pipeline.settings import Settings
from schemas import validate
from tests.support.connectors import ApiServer
from tests.support.kafka import read_all


def _tweet(tid: str, text: str) -> dict[str, Any]:
    return {"id": tid, "text": text, "author_id": "42", "created_at": "2026-11-23T10:00:00.000Z"}


def test_search_publishes_dead_letters_and_resumes_from_the_kafka_checkpoint(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "AAAA")

    async def scenario() -> list[str]:
        api = ApiServer()
        seen: list[dict[str, str]] = []

        async def recent(request: web.Request) -> web.StreamResponse:
            seen.append(dict(request.query))
            if request.query.get("since_id") == "203":
                body = {
                    "data": [_tweet("204", "@RailCo thanks, fixed")],
                    "meta": {"newest_id": "204", "result_count": 1},
                }
            elif request.query.get("next_token") == "n2":
                body = {
                    "data": [_tweet("201", "first")],
                    "meta": {"newest_id": "201", "result_count": 1},
                }
            else:
                body = {
                    "data": [
                        _tweet("203", "@RailCo refund?"),
                        _tweet("202", "late"),
                        {"text": "no id"},
                    ],
                    "includes": {"users": [{"id": "42", "username": "annie", "name": "Annie"}]},
                    "meta": {
                        "newest_id": "203",
                        "oldest_id": "202",
                        "result_count": 3,
                        "next_token": "n2",
                    },
                }
            return web.json_response(body)

        api.route("GET", "/2/tweets/search/recent", recent)
        base = await api.start()
        try:
            for _ in range(2):  # a restart: the second process resumes from the checkpoint
                connector = TwitterSearchConnector(
                    "x-it",
                    settings,
                    query="railco",
                    base_url=base,
                    once=True,
                    registry=CollectorRegistry(),
                )
                await connector.run()
        finally:
            await api.close()
        assert seen[-1]["since_id"] == "203"
        cursor = await CheckpointStore(settings).load("x-it")
        assert cursor == {"search": {"since_id": "204"}}
        return [r.get("since_id", "-") for r in seen]

    asyncio.run(scenario())
    raw = asyncio.run(read_all(settings, "mentions.raw"))
    envelopes = [RawEnvelope.from_json(r.value) for r in raw if r.value is not None]
    assert sorted(e.native_id or "" for e in envelopes) == ["201", "202", "203", "204"]
    assert all(
        r.key == f"twitter:{RawEnvelope.from_json(r.value).native_id}".encode()
        for r in raw
        if r.value
    )
    for r in raw:
        assert validate("raw", orjson.loads(r.value or b"{}")) == []
    dead = asyncio.run(read_all(settings, "mentions.deadletter"))
    assert len(dead) == 1
    letter = orjson.loads(dead[0].value or b"{}")
    assert validate("deadletter", letter) == []
    assert letter["error"] == "invalid_item"
    assert letter["stage"] == "connector.twitter"


def test_webhook_answers_202_only_when_the_record_is_in_kafka(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "0123456789abcdef-secret")

    async def scenario() -> int:
        connector = WebhookConnector("hooks-it", settings, registry=CollectorRegistry())
        server = WebhookServer([connector], host="127.0.0.1", port=0)
        await server.start()
        task = asyncio.create_task(connector.run())
        body = orjson.dumps(
            {"id": "w1", "text": "parcel lost", "created_at": "2026-11-23T09:00:00Z"}
        )
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.post(
                    f"{server.url}/webhooks/generic",
                    content=body,
                    headers=sign(b"0123456789abcdef-secret", body, int(time.time())),
                )
            # Acknowledged means stored: readable right now, no waiting.
            stored = await read_all(settings, "mentions.raw", settle_s=0)
            assert [RawEnvelope.from_json(r.value).native_id for r in stored if r.value] == ["w1"]
            return response.status_code
        finally:
            await server.stop()
            connector.stop()
            await task

    assert asyncio.run(scenario()) == 202
