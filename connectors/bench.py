"""Connector overhead, measured in-process: ``python -m connectors.bench [--kafka]``.

1. Webhook ingest: signed POSTs through the shared aiohttp server (HMAC check, JSON parse,
   envelope, publish, ack) on a real socket, 16 concurrent senders; the publisher is an
   in-memory one unless ``--kafka`` (then the broker from ``MENTIONFLOW_*`` settings).
2. Polling parse: X search pages (100 tweets with expansions) split into envelopes.

Prints one line per measurement. Keep runs short (shared CI machines).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import orjson

__all__ = ["main"]


class _NullSink:
    async def publish(self, key: bytes | None, value: bytes, topic: str | None = None) -> None:
        return None

    async def flush(self) -> None:
        return None


class _NoCheckpoints:
    async def load(self, name: str) -> dict[str, Any] | None:
        return None

    async def save(self, publish: Any, name: str, cursor: dict[str, Any]) -> None:
        return None


async def webhook(requests: int, kafka: bool) -> float:
    import httpx
    from prometheus_client import CollectorRegistry

    from connectors.server import WebhookServer
    from connectors.webhook import WebhookConnector, sign
    from pipeline.settings import Settings

    os.environ.setdefault("WEBHOOK_SECRET", "bench-secret-0123456789")
    settings = Settings.from_env() if kafka else Settings()
    inject: dict[str, Any] = (
        {} if kafka else {"publisher": _NullSink(), "checkpoints": _NoCheckpoints()}
    )
    connector = WebhookConnector("bench", settings, registry=CollectorRegistry(), **inject)
    server = WebhookServer([connector], host="127.0.0.1", port=0)
    await server.start()
    task = asyncio.create_task(connector.run())
    secret = os.environ["WEBHOOK_SECRET"].encode()
    bodies = [
        orjson.dumps(
            {
                "id": f"b{i}",
                "text": "my train is late again " * 4,
                "created_at": "2026-11-23T09:00:00Z",
            }
        )
        for i in range(requests)
    ]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post(
                f"{server.url}/webhooks/generic",
                content=body,
                headers=sign(secret, body, int(time.time())),
            )
            assert response.status_code == 202, response.text

    started = time.perf_counter()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=16), timeout=60) as client:
        await asyncio.gather(*(sender(client) for _ in range(16)))
    took = time.perf_counter() - started
    await server.stop()
    connector.stop()
    await task
    return requests / took


def parse(pages: int) -> float:
    from prometheus_client import CollectorRegistry

    from connectors.twitter import TwitterSearchConnector, _TweetSplitter
    from pipeline.settings import Settings

    os.environ.setdefault("X_BEARER_TOKEN", "bench")
    connector = TwitterSearchConnector("bench", Settings(), query="x", registry=CollectorRegistry())
    users = [
        {
            "id": str(u),
            "username": f"user{u}",
            "name": "U",
            "public_metrics": {"followers_count": 3},
        }
        for u in range(100)
    ]
    tweets = [
        {
            "id": str(10**18 + i),
            "text": "@RailCo my train is late " * 3,
            "author_id": str(i % 100),
            "created_at": "2026-11-23T10:00:00.000Z",
            "conversation_id": str(10**18 + i),
            "entities": {"mentions": [{"start": 0, "end": 7, "username": "RailCo", "id": "999"}]},
        }
        for i in range(100)
    ]
    raw = orjson.dumps(
        {"data": tweets, "includes": {"users": users}, "meta": {"result_count": 100}}
    )
    splitter = _TweetSplitter(connector)
    started = time.perf_counter()
    for _ in range(pages):
        records, _letters = splitter.split(orjson.loads(raw), raw)
        assert len(records) == 100
    return pages * 100 / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.bench")
    parser.add_argument(
        "--kafka", action="store_true", help="publish to the broker from MENTIONFLOW_* settings"
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args(argv)
    rate = asyncio.run(webhook(args.requests, args.kafka))
    print(
        f"webhook ingest ({'kafka' if args.kafka else 'in-memory sink'}, 16 senders): {rate:,.0f} requests/s"
    )
    print(f"X search page parse: {parse(args.pages):,.0f} tweets/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
