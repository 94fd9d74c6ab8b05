from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from connectors.http import AuthExpired
from connectors.twitter import (
    TwitterMentionsConnector,
    TwitterSearchConnector,
    TwitterStreamConnector,
    build_query,
)
from pipeline.brand import BrandAccounts
from pipeline.normalize import normalize
from pipeline.settings import Settings
from tests.support.connectors import (
    ApiServer,
    MemoryCheckpoints,
    MemorySink,
    json_response,
    no_sleep,
    raw_response,
)

BRAND = BrandAccounts.from_mapping({"twitter": ["@RailCo", "999"]})


def tweet(tid: str, author: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "text": text,
        "author_id": author,
        "created_at": "2026-11-23T10:00:00.000Z",
        "edit_history_tweet_ids": [tid],
        "conversation_id": extra.pop("conversation_id", tid),
        **extra,
    }


def user(uid: str, username: str) -> dict[str, Any]:
    return {
        "id": uid,
        "username": username,
        "name": username.title(),
        "verified": False,
        "public_metrics": {"followers_count": 12, "following_count": 3, "tweet_count": 40},
    }


def page(
    tweets: list[dict[str, Any]],
    users: list[dict[str, Any]],
    next_token: str | None = None,
    refs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"result_count": len(tweets)}
    if tweets:
        meta["newest_id"] = tweets[0]["id"]
        meta["oldest_id"] = tweets[-1]["id"]
    if next_token:
        meta["next_token"] = next_token
    body: dict[str, Any] = {"data": tweets, "includes": {"users": users}, "meta": meta}
    if refs:
        body["includes"]["tweets"] = refs
    if not tweets:
        del body["data"]
        del body["includes"]
    return body


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "AAAA-test")


def search(
    base: str, sink: MemorySink, checkpoints: MemoryCheckpoints, **kw: Any
) -> TwitterSearchConnector:
    connector = TwitterSearchConnector(
        "x-search",
        Settings(),
        query="railco OR @RailCo",
        base_url=base,
        once=True,
        publisher=sink,
        checkpoints=checkpoints,
        registry=CollectorRegistry(),
        **kw,
    )
    connector.api.sleep = no_sleep
    return connector


def test_build_query_captures_mentions_terms_and_the_brands_own_replies() -> None:
    q = build_query(["railco", "late train"], ["@RailCo"])
    assert q == '((railco OR "late train" OR @RailCo) -is:retweet) OR ((from:RailCo) is:reply)'
    with pytest.raises(ValueError, match="512"):
        build_query(["x" * 600], [])


async def test_search_pages_then_resumes_from_since_id_without_gaps(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    customer = user("42", "annie")
    first = page(
        [tweet("105", "42", "@RailCo my train is late"), tweet("104", "42", "still waiting")],
        [customer],
        "tok2",
    )
    second = page([tweet("103", "42", "hello railco")], [customer])
    later = page(
        [
            tweet(
                "107",
                "999",
                "@annie sorry, we are on it",
                in_reply_to_user_id="42",
                referenced_tweets=[{"type": "replied_to", "id": "105"}],
                conversation_id="105",
            )
        ],
        [user("999", "RailCo"), customer],
        refs=[tweet("105", "42", "@RailCo my train is late")],
    )
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        q = dict(request.query)
        seen.append(q)
        assert request.headers["Authorization"] == "Bearer AAAA-test"
        if q.get("since_id") == "105":
            return await json_response(later)(request)
        if q.get("next_token") == "tok2":
            return await json_response(second)(request)
        return await json_response(first)(request)

    api.route("GET", "/2/tweets/search/recent", handler)
    base = await api.start()
    assert await search(base, sink, checkpoints).run() == 3
    assert checkpoints.history == [
        {"search": {"since_id": None, "pending": "105", "next_token": "tok2"}},
        {"search": {"since_id": "105"}},
    ]
    assert seen[0]["expansions"].startswith("author_id")
    # A restart resumes from the checkpoint: only the newer reply is fetched.
    assert await search(base, sink, checkpoints).run() == 1
    assert seen[-1]["since_id"] == "105"
    envelopes = sink.raw
    assert [e.native_id for e in envelopes] == ["105", "104", "103", "107"]
    reply = normalize(envelopes[-1], BRAND)
    assert reply.is_brand
    assert reply.in_reply_to == "twitter:105"
    complaint = normalize(envelopes[0], BRAND)
    assert complaint.author.handle == "annie"
    assert not complaint.is_brand


async def test_restart_in_the_middle_of_a_pass_continues_it(
    api: ApiServer, sink: MemorySink
) -> None:
    checkpoints = MemoryCheckpoints(
        {"x-search": {"search": {"since_id": "100", "pending": "105", "next_token": "tok2"}}}
    )
    api.route("GET", "/2/tweets/search/recent", json_response(page([tweet("103", "42", "x")], [])))
    base = await api.start()
    await search(base, sink, checkpoints).run()
    q = api.requests[0].query
    assert q["next_token"] == "tok2"
    assert q["since_id"] == "100"
    assert checkpoints.saved["x-search"] == {"search": {"since_id": "105"}}


async def test_429_waits_for_the_reset_header_then_succeeds(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    reset = int(time.time()) + 30
    api.queue(
        "GET",
        "/2/tweets/search/recent",
        [
            json_response(
                {"title": "Too Many Requests", "status": 429},
                429,
                {
                    "x-rate-limit-limit": "450",
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(reset),
                },
            ),
            json_response(page([tweet("5", "42", "hi")], [])),
        ],
    )
    base = await api.start()
    connector = search(base, sink, checkpoints)
    assert await connector.run() == 1
    assert len(connector.api.waits) >= 1
    assert 25 <= connector.api.waits[0] <= 31
    registry = connector._metrics
    assert (
        registry.rate_limit_waits.labels(connector="x-search", source="twitter")._value.get() >= 1
    )


async def test_5xx_is_retried_and_malformed_json_is_dead_lettered(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    api.queue(
        "GET",
        "/2/tweets/search/recent",
        [
            raw_response(b"upstream broke", 503),
            raw_response(b'{"data": [{"id": "1", "te', 200),
        ],
    )
    base = await api.start()
    connector = search(base, sink, checkpoints)
    assert await connector.run() == 0
    dead = sink.dead()
    assert len(dead) == 1
    assert dead[0]["error"] == "malformed_response"
    assert "not JSON" in dead[0]["reason"]
    assert checkpoints.saved == {}  # nothing skipped: the next pass starts where we were


async def test_items_without_id_are_dead_lettered_and_the_rest_published(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    body = page([tweet("9", "42", "ok")], [])
    body["data"].append({"text": "no id"})
    api.route("GET", "/2/tweets/search/recent", json_response(body))
    connector = search(await api.start(), sink, checkpoints)
    assert await connector.run() == 1
    assert [d["error"] for d in sink.dead()] == ["invalid_item"]


async def test_expired_token_stops_with_a_clear_error(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    api.route(
        "GET",
        "/2/tweets/search/recent",
        json_response(
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
            401,
        ),
    )
    connector = search(await api.start(), sink, checkpoints)
    with pytest.raises(AuthExpired, match="401"):
        await connector.run()


async def test_mentions_and_own_tweets_have_separate_cursors(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    api.route(
        "GET",
        "/2/users/999/mentions",
        json_response(page([tweet("20", "42", "@RailCo help")], [user("42", "annie")])),
    )
    api.route(
        "GET",
        "/2/users/999/tweets",
        json_response(
            page(
                [tweet("21", "999", "@annie on it", in_reply_to_user_id="42")],
                [user("999", "RailCo")],
            )
        ),
    )
    connector = TwitterMentionsConnector(
        "x-mentions",
        Settings(),
        user_ids=["999"],
        base_url=await api.start(),
        once=True,
        publisher=sink,
        checkpoints=checkpoints,
        registry=CollectorRegistry(),
    )
    assert await connector.run() == 2
    assert checkpoints.saved["x-mentions"] == {
        "mentions:999": {"since_id": "20"},
        "tweets:999": {"since_id": "21"},
    }
    assert [normalize(e, BRAND).is_brand for e in sink.raw] == [False, True]


async def test_stream_reconnects_after_a_drop_and_fills_the_gap(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    connections = {"n": 0}
    line1 = orjson.dumps(
        {
            "data": tweet("300", "42", "@RailCo broken app"),
            "includes": {"users": [user("42", "annie")]},
            "matching_rules": [{"id": "1", "tag": "mentionflow:0"}],
        }
    )

    async def stream(request: web.Request) -> web.StreamResponse:
        connections["n"] += 1
        response = web.StreamResponse()
        await response.prepare(request)
        if connections["n"] == 1:
            await response.write(b"\r\n" + line1 + b"\r\nnot json\r\n")
            # Drop the connection mid-stream (no terminating chunk).
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(orjson.dumps({"data": tweet("305", "42", "still broken")}) + b"\r\n")
        connector.stop()
        await response.write_eof()
        return response

    api.route("GET", "/2/tweets/search/stream", stream)
    api.route(
        "GET",
        "/2/tweets/search/stream/rules",
        json_response({"meta": {"sent": "x", "result_count": 0}}),
    )
    api.route(
        "POST",
        "/2/tweets/search/stream/rules",
        json_response(
            {
                "data": [{"id": "1", "value": "railco", "tag": "mentionflow:0"}],
                "meta": {"summary": {"created": 1}},
            },
            201,
        ),
    )
    api.route(
        "GET",
        "/2/tweets/search/recent",
        json_response(page([tweet("302", "42", "during the gap")], [])),
    )
    connector = TwitterStreamConnector(
        "x-stream",
        Settings(),
        rules=[{"value": "railco"}],
        backfill_query="railco",
        base_url=await api.start(),
        publisher=sink,
        checkpoints=checkpoints,
        registry=CollectorRegistry(),
        backoff_scale=0.0,
    )
    connector.api.sleep = no_sleep
    await connector.run()
    assert [e.native_id for e in sink.raw] == ["300", "302", "305"]
    assert sink.raw[0].context == {"matching_rules": ["mentionflow:0"]}
    assert [d["error"] for d in sink.dead()] == ["malformed_line"]
    gap = next(r for r in api.requests if r.path.endswith("/recent"))
    assert gap.query["since_id"] == "300"
    assert checkpoints.saved["x-stream"] == {"last_id": "305"}
    posted = [r for r in api.requests if r.method == "POST"]
    assert len(posted) == 1


async def test_stream_429_backs_off_from_a_minute_and_operational_disconnects_reconnect(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    calls = {"n": 0}
    waits: list[float] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        calls["n"] += 1
        if calls["n"] == 1:
            return await json_response(
                {
                    "title": "ConnectionException",
                    "detail": "This stream is currently at the maximum allowed connection limit.",
                    "connection_issue": "TooManyConnections",
                    "type": "https://api.twitter.com/2/problems/streaming-connection",
                },
                429,
            )(request)
        response = web.StreamResponse()
        await response.prepare(request)
        if calls["n"] == 2:
            await response.write(
                orjson.dumps(
                    {
                        "errors": [
                            {
                                "title": "operational-disconnect",
                                "disconnect_type": "UpstreamOperationalDisconnect",
                                "detail": "This stream has been disconnected upstream for operational reasons.",
                            }
                        ]
                    }
                )
                + b"\r\n"
            )
            await response.write_eof()
            return response
        await response.write(orjson.dumps({"data": tweet("400", "42", "hi")}) + b"\r\n")
        connector.stop()
        await response.write_eof()
        return response

    api.route("GET", "/2/tweets/search/stream", stream)
    connector = TwitterStreamConnector(
        "x-stream",
        Settings(),
        base_url=await api.start(),
        publisher=sink,
        checkpoints=checkpoints,
        registry=CollectorRegistry(),
    )
    real_wait = connector.wait_or_stop

    async def recorded(seconds: float) -> bool:
        waits.append(seconds)
        return await real_wait(0)

    connector.wait_or_stop = recorded  # type: ignore[method-assign]
    await connector.run()
    assert calls["n"] == 3
    assert waits[0] >= 60  # X: 429 on connect backs off from one minute
    assert [e.native_id for e in sink.raw] == ["400"]


async def test_stream_with_a_revoked_token_stops(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    api.route(
        "GET",
        "/2/tweets/search/stream",
        json_response({"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}, 401),
    )
    connector = TwitterStreamConnector(
        "x-stream",
        Settings(),
        base_url=await api.start(),
        publisher=sink,
        checkpoints=checkpoints,
        registry=CollectorRegistry(),
    )
    with pytest.raises(AuthExpired):
        await connector.run()


async def test_a_stream_that_closes_without_data_is_not_hammered(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    calls = {"n": 0}

    async def empty(request: web.Request) -> web.StreamResponse:
        calls["n"] += 1
        if calls["n"] >= 4:
            connector.stop()
        return web.Response(body=b"", status=200)

    api.route("GET", "/2/tweets/search/stream", empty)
    connector = TwitterStreamConnector(
        "x-stream",
        Settings(),
        base_url=await api.start(),
        publisher=sink,
        checkpoints=checkpoints,
        registry=CollectorRegistry(),
    )
    waits: list[float] = []
    real_wait = connector.wait_or_stop

    async def recorded(seconds: float) -> bool:
        waits.append(seconds)
        return await real_wait(0)

    connector.wait_or_stop = recorded  # type: ignore[method-assign]
    await connector.run()
    assert waits == [0.25, 0.5, 0.75]


async def test_dms_page_back_to_the_cursor_and_reread_a_refreshed_token(
    api: ApiServer,
    sink: MemorySink,
    checkpoints: MemoryCheckpoints,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from connectors.twitter import TwitterDMConnector

    token_file = tmp_path / "x-user-token"
    token_file.write_text("old-token\n")
    monkeypatch.setenv("X_USER_TOKEN_FILE", str(token_file))

    def dm(eid, sender, text):
        return {
            "id": eid,
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender,
            "dm_conversation_id": "42-999",
            "created_at": "2026-11-23T10:00:00.000Z",
            "participant_ids": ["42", "999"],
        }

    async def events(request: web.Request) -> web.StreamResponse:
        if request.headers["Authorization"] == "Bearer old-token":
            token_file.write_text("new-token")  # what the refresher does meanwhile
            return await json_response({"title": "Unauthorized", "status": 401}, 401)(request)
        if request.query.get("pagination_token") == "p2":
            return await json_response(
                {"data": [dm("1500", "42", "older")], "meta": {"result_count": 1}}
            )(request)
        return await json_response(
            {
                "data": [dm("1700", "999", "We refunded you"), dm("1600", "42", "refund?")],
                "includes": {"users": [user("42", "annie"), user("999", "RailCo")]},
                "meta": {"result_count": 2, "next_token": "p2"},
            }
        )(request)

    api.route("GET", "/2/dm_events", events)
    base = await api.start()

    def make():
        return TwitterDMConnector(
            "x-dm",
            Settings(),
            base_url=base,
            once=True,
            publisher=sink,
            checkpoints=checkpoints,
            registry=CollectorRegistry(),
        )

    assert await make().run() == 3
    assert checkpoints.saved["x-dm"] == {"newest_id": "1700"}
    assert await make().run() == 0  # resumes: 1700 and older are known
    reply, question, _older = (normalize(e, BRAND) for e in sink.raw)
    assert reply.is_brand
    assert question.is_direct
    assert question.author.handle == "annie"
