"""New payload types through a real worker: connectors -> mentions.raw -> normalise ->
mentions.normalized, each a schema-valid mention; the brand's own reply is marked."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.mastodon import MastodonConnector
from connectors.reddit import RedditConnector
from connectors.rss import RssConnector
from connectors.youtube import YouTubeConnector
from pipeline.settings import Settings
from schemas import validate
from tests.support.connectors import ApiServer, json_response, raw_response
from tests.support.kafka import consume_until, wait_consumed, worker_group


def _yt(cid: str, channel: str, text: str, parent: str | None = None) -> dict[str, Any]:
    snippet: dict[str, Any] = {
        "videoId": "v1",
        "textOriginal": text,
        "textDisplay": text,
        "authorDisplayName": "@x",
        "authorChannelId": {"value": channel},
        "publishedAt": "2026-11-23T10:00:00Z",
        "updatedAt": "2026-11-23T10:00:00Z",
    }
    if parent:
        snippet["parentId"] = parent
    return {"kind": "youtube#comment", "id": cid, "snippet": snippet}


def test_new_payload_types_become_valid_mentions(
    settings: Settings, make_worker, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    for name, value in {
        "YOUTUBE_API_KEY": "k",
        "MASTODON_TOKEN": "m",
        "REDDIT_CLIENT_ID": "c",
        "REDDIT_CLIENT_SECRET": "s",
    }.items():
        monkeypatch.setenv(name, value)
    worker = make_worker()
    worker.start()
    worker.wait_ready()

    async def fetch() -> None:
        api = ApiServer()
        api.route(
            "GET",
            "/youtube/v3/commentThreads",
            json_response(
                {
                    "items": [
                        {
                            "id": "T1",
                            "snippet": {
                                "videoId": "v1",
                                "totalReplyCount": 1,
                                "topLevelComment": _yt("T1", "UCcust", "The app crashes on login"),
                            },
                            "replies": {
                                "comments": [_yt("T1.r", "UCbrand", "Update to 4.2 please", "T1")]
                            },
                        }
                    ]
                }
            ),
        )
        api.route(
            "GET",
            "/api/v1/timelines/tag/railco",
            json_response(
                [
                    {
                        "id": "900",
                        "created_at": "2026-11-23T10:00:00.000Z",
                        "content": "<p>#railco delays again</p>",
                        "visibility": "public",
                        "account": {"id": "5", "acct": "ann@example.social"},
                        "url": "https://example.social/@ann/900",
                    }
                ]
            ),
        )
        api.route(
            "POST",
            "/api/v1/access_token",
            json_response({"access_token": "t", "token_type": "bearer", "expires_in": 86400}),
        )
        api.route(
            "GET",
            "/r/trains/new",
            json_response(
                {
                    "kind": "Listing",
                    "data": {
                        "after": None,
                        "children": [
                            {
                                "kind": "t3",
                                "data": {
                                    "name": "t3_q",
                                    "title": "RailCo wifi",
                                    "selftext": "never works",
                                    "author": "u1",
                                    "created_utc": 1795428000,
                                    "permalink": "/r/trains/comments/q/x/",
                                    "subreddit": "trains",
                                    "is_self": True,
                                },
                            }
                        ],
                    },
                }
            ),
        )
        api.route(
            "GET",
            "/feed.xml",
            raw_response(
                b'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title><link>https://n.example/</link>'
                b"<item><title>Strike</title><link>https://n.example/s</link><guid>s-1</guid>"
                b"<pubDate>Mon, 23 Nov 2026 07:00:00 +0000</pubDate></item></channel></rss>"
            ),
        )
        base = await api.start()
        common: dict[str, Any] = {"once": True}
        try:
            for connector in (
                YouTubeConnector(
                    "yt",
                    settings,
                    channel_id="UCbrand",
                    base_url=base,
                    registry=CollectorRegistry(),
                    **common,
                ),
                MastodonConnector(
                    "masto",
                    settings,
                    base_url=base,
                    timelines=["tag:railco"],
                    registry=CollectorRegistry(),
                    **common,
                ),
                RedditConnector(
                    "reddit",
                    settings,
                    listings=["r/trains"],
                    user_agent="test:mentionflow:0.1",
                    base_url=base,
                    token_url=f"{base}/api/v1/access_token",
                    registry=CollectorRegistry(),
                    **common,
                ),
                RssConnector(
                    "news",
                    settings,
                    feeds=[f"{base}/feed.xml"],
                    registry=CollectorRegistry(),
                    **common,
                ),
            ):
                await connector.run()
        finally:
            await api.close()

    asyncio.run(fetch())
    assert asyncio.run(
        wait_consumed(settings, "mentions.raw", worker_group(settings, "mentions.raw") or "")
    ), worker.tail()
    records = asyncio.run(
        consume_until(settings, "mentions.normalized", lambda rs: len(rs) >= 5, timeout_s=60)
    )
    mentions = {m["id"]: m for m in (orjson.loads(r.value or b"{}") for r in records)}
    assert sorted(mentions) == [
        "mastodon:900",
        "reddit:t3_q",
        "rss:s-1",
        "youtube:T1",
        "youtube:T1.r",
    ], worker.tail()
    for mention in mentions.values():
        assert validate("mention", mention) == []
    assert mentions["youtube:T1.r"]["is_brand"] is True
    assert mentions["youtube:T1"]["is_brand"] is False
    assert mentions["rss:s-1"]["kind"] == "article"
    assert worker.stop() == 0, worker.tail()
