"""YouTube, Mastodon, Bluesky, Reddit, RSS, Instagram and Facebook polling against a local
server serving the platforms' documented response shapes; payloads normalised end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from connectors.bluesky import BlueskyConnector
from connectors.facebook import FacebookPageConnector
from connectors.http import AuthExpired
from connectors.instagram import InstagramConnector
from connectors.mastodon import MastodonConnector, MastodonStreamConnector, next_link
from connectors.reddit import RedditConnector
from connectors.rss import RssConnector
from connectors.youtube import YouTubeConnector
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

BRAND = BrandAccounts.from_mapping(
    {
        "mastodon": ["railco@mastodon.social", "109000"],
        "bluesky": ["did:plc:brand", "railco.bsky.social"],
        "reddit": ["RailCoSupport"],
        "youtube": ["UCbrand"],
    }
)


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "YOUTUBE_API_KEY": "AIza-test",
        "MASTODON_TOKEN": "masto",
        "BLUESKY_APP_PASSWORD": "abcd-efgh-ijkl-mnop",
        "REDDIT_CLIENT_ID": "cid",
        "REDDIT_CLIENT_SECRET": "csecret",
        "INSTAGRAM_TOKEN": "ig-token",
        "FACEBOOK_PAGE_TOKEN": "EAAB-page",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FACEBOOK_APP_SECRET", raising=False)


def common(sink: MemorySink, checkpoints: MemoryCheckpoints) -> dict[str, Any]:
    return {
        "publisher": sink,
        "checkpoints": checkpoints,
        "registry": CollectorRegistry(),
        "once": True,
    }


def yt_comment(
    cid: str, when: str, text: str, channel: str = "UCcustomer", parent: str | None = None
) -> dict[str, Any]:
    snippet = {
        "channelId": "UCbrand",
        "videoId": "vid1",
        "textDisplay": text,
        "textOriginal": text,
        "authorDisplayName": "@someone",
        "authorChannelUrl": f"http://www.youtube.com/channel/{channel}",
        "authorChannelId": {"value": channel},
        "canRate": True,
        "viewerRating": "none",
        "likeCount": 0,
        "publishedAt": when,
        "updatedAt": when,
    }
    if parent:
        snippet["parentId"] = parent
    return {"kind": "youtube#comment", "etag": "e", "id": cid, "snippet": snippet}


async def test_youtube_threads_replies_and_watermark(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    threads = {
        "kind": "youtube#commentThreadListResponse",
        "etag": "x",
        "nextPageToken": "p2",
        "pageInfo": {"totalResults": 2, "resultsPerPage": 1},
        "items": [
            {
                "kind": "youtube#commentThread",
                "etag": "t",
                "id": "Ug1",
                "snippet": {
                    "channelId": "UCbrand",
                    "videoId": "vid1",
                    "canReply": True,
                    "totalReplyCount": 6,
                    "isPublic": True,
                    "topLevelComment": yt_comment(
                        "Ug1", "2026-11-23T10:00:00Z", "The app logs me out every day"
                    ),
                },
                "replies": {
                    "comments": [
                        yt_comment(
                            "Ug1.r1",
                            "2026-11-23T10:05:00Z",
                            "Sorry! Fixed in 4.2",
                            "UCbrand",
                            "Ug1",
                        )
                    ]
                },
            }
        ],
    }
    page2 = {
        "kind": "youtube#commentThreadListResponse",
        "items": [
            {
                "id": "Ug0",
                "snippet": {
                    "videoId": "vid1",
                    "totalReplyCount": 0,
                    "topLevelComment": yt_comment("Ug0", "2026-11-20T10:00:00Z", "old"),
                },
            }
        ],
    }
    replies = {
        "items": [
            yt_comment(f"Ug1.r{i}", f"2026-11-23T10:0{i}:00Z", f"reply {i}", parent="Ug1")
            for i in range(1, 7)
        ]
    }
    replies["items"][0] = yt_comment(
        "Ug1.r1", "2026-11-23T10:01:00Z", "Sorry! Fixed in 4.2", "UCbrand", "Ug1"
    )

    async def threads_handler(request: web.Request) -> web.StreamResponse:
        assert request.query["key"] == "AIza-test"
        return await json_response(page2 if request.query.get("pageToken") == "p2" else threads)(
            request
        )

    api.route("GET", "/youtube/v3/commentThreads", threads_handler)
    api.route("GET", "/youtube/v3/comments", json_response(replies))
    base = await api.start()

    def make():
        return YouTubeConnector(
            "yt", Settings(), channel_id="UCbrand", base_url=base, **common(sink, checkpoints)
        )

    assert await make().run() == 8  # Ug1, six replies (5+ -> comments.list), Ug0
    again = await make().run()
    assert again == 0
    mentions = {m.native_id: m for m in (normalize(e, BRAND) for e in sink.raw)}
    assert mentions["Ug1.r1"].is_brand
    assert mentions["Ug1.r1"].in_reply_to == "youtube:Ug1"
    assert mentions["Ug1"].kind == "comment" and not mentions["Ug1"].is_brand  # noqa: PT018


def status(sid: str, acct: str, html: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "created_at": "2026-11-23T10:00:00.000Z",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"https://mastodon.social/users/x/statuses/{sid}",
        "url": f"https://mastodon.social/@x/{sid}",
        "content": html,
        "account": {
            "id": "555",
            "username": acct.split("@")[0],
            "acct": acct,
            "display_name": "Xavier",
            "followers_count": 10,
            "url": "https://mastodon.social/@x",
        },
        "media_attachments": [],
        "mentions": [
            {
                "id": "109000",
                "username": "railco",
                "acct": "railco@mastodon.social",
                "url": "https://mastodon.social/@railco",
            }
        ],
        **extra,
    }


async def test_mastodon_notifications_follow_link_pages_and_resume(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    base = await api.start()

    def n(nid, st):
        return {
            "id": nid,
            "type": "mention",
            "created_at": "2026-11-23T10:00:00.000Z",
            "account": st["account"],
            "status": st,
        }

    async def notifications(request: web.Request) -> web.StreamResponse:
        q = request.query
        assert q["types[]"] == "mention"
        if q.get("max_id") == "40":
            return await json_response(
                [n("39", status("1002", "x@example.social", "<p>second</p>"))]
            )(request)
        if q.get("since_id") == "41":
            return await json_response([])(request)
        link = f'<{base}/api/v1/notifications?max_id=40&types[]=mention>; rel="next", <{base}/api/v1/notifications?min_id=41>; rel="prev"'
        return await json_response(
            [
                n("41", status("1003", "x@example.social", "<p>@railco my <b>refund</b>?</p>")),
                n("40", status("1001", "x", "<p>first</p>")),
            ],
            headers={"Link": link},
        )(request)

    api.route("GET", "/api/v1/notifications", notifications)

    def make():
        return MastodonConnector(
            "masto",
            Settings(),
            base_url=base,
            timelines=["notifications"],
            **common(sink, checkpoints),
        )

    assert await make().run() == 3
    assert checkpoints.saved["masto"] == {"notifications": "41"}
    assert await make().run() == 0
    first = normalize(sink.raw[0], BRAND)
    assert first.text == "@railco my refund?"
    assert "@railco@mastodon.social" in first.addressed_to
    assert next_link('<https://a/x?max_id=1>; rel="next"') == "https://a/x?max_id=1"


async def test_mastodon_stream_events_heartbeats_and_gap_fill(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    calls = {"n": 0}

    async def stream(request: web.Request) -> web.StreamResponse:
        calls["n"] += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if calls["n"] == 1:
            note = {
                "id": "77",
                "type": "mention",
                "account": {},
                "status": status("2001", "x", "<p>train cancelled</p>"),
            }
            await response.write(
                b":thump\n\nevent: notification\ndata: "
                + orjson.dumps(note)
                + b"\n\nevent: notification\ndata: {broken\n\n"
            )
            assert request.transport is not None
            request.transport.close()
            return response
        reply = status(
            "2003",
            "railco@mastodon.social",
            "<p>sorry</p>",
            in_reply_to_id="2001",
            in_reply_to_account_id="555",
        )
        reply["account"]["id"] = "109000"
        await response.write(
            b"event: notification\ndata: "
            + orjson.dumps({"id": "79", "type": "mention", "status": reply})
            + b"\n\n"
        )
        connector.stop()
        await response.write_eof()
        return response

    api.route("GET", "/api/v1/streaming/user/notification", stream)
    api.route(
        "GET",
        "/api/v1/notifications",
        json_response(
            [{"id": "78", "type": "mention", "status": status("2002", "x", "<p>gap</p>")}]
        ),
    )
    connector = MastodonStreamConnector(
        "masto-stream",
        Settings(),
        base_url=await api.start(),
        backoff_scale=0.0,
        publisher=sink,
        checkpoints=checkpoints,
        registry=CollectorRegistry(),
    )
    await connector.run()
    assert [e.native_id for e in sink.raw] == ["2001", "2002", "2003"]
    assert [d["error"] for d in sink.dead()] == ["malformed_event"]
    gap = next(r for r in api.requests if r.path == "/api/v1/notifications")
    assert gap.query["since_id"] == "77"
    assert checkpoints.saved["masto-stream"] == {"last_id": "79"}
    assert normalize(sink.raw[2], BRAND).is_brand


def bsky_post(
    rkey: str, did: str, handle: str, text: str, indexed: str, parent: str | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": indexed,
        "langs": ["en"],
    }
    if parent:
        record["reply"] = {
            "root": {"uri": parent, "cid": "bafyroot"},
            "parent": {"uri": parent, "cid": "bafyparent"},
        }
    return {
        "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        "cid": f"bafy{rkey}",
        "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0]},
        "record": record,
        "replyCount": 0,
        "repostCount": 0,
        "likeCount": 0,
        "indexedAt": indexed,
    }


async def test_bluesky_session_refresh_on_expired_token_and_search(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    state = {"searches": 0}
    complaint = bsky_post(
        "3kabc",
        "did:plc:cust",
        "cust.bsky.social",
        "@railco.bsky.social the 8:05 is late again",
        "2026-11-23T10:00:00.000Z",
    )
    reply = bsky_post(
        "3kabd",
        "did:plc:brand",
        "railco.bsky.social",
        "Sorry, checking",
        "2026-11-23T10:02:00.000Z",
        parent=complaint["uri"],
    )

    async def search(request: web.Request) -> web.StreamResponse:
        state["searches"] += 1
        if request.headers["Authorization"] == "Bearer access-1":
            return await json_response(
                {"error": "ExpiredToken", "message": "Token has expired"}, 400
            )(request)
        assert request.headers["Authorization"] == "Bearer access-2"
        return await json_response({"posts": [reply, complaint], "hitsTotal": 2})(request)

    api.route(
        "POST",
        "/xrpc/com.atproto.server.createSession",
        json_response(
            {
                "did": "did:plc:brand",
                "handle": "railco.bsky.social",
                "accessJwt": "access-1",
                "refreshJwt": "refresh-1",
                "active": True,
            }
        ),
    )

    async def refresh(request: web.Request) -> web.StreamResponse:
        assert request.headers["Authorization"] == "Bearer refresh-1"
        return await json_response(
            {
                "did": "did:plc:brand",
                "handle": "railco.bsky.social",
                "accessJwt": "access-2",
                "refreshJwt": "refresh-2",
            }
        )(request)

    api.route("POST", "/xrpc/com.atproto.server.refreshSession", refresh)
    api.route("GET", "/xrpc/app.bsky.feed.searchPosts", search)
    connector = BlueskyConnector(
        "bsky",
        Settings(),
        handle="railco.bsky.social",
        sources=["search:railco"],
        service=await api.start(),
        **common(sink, checkpoints),
    )
    assert await connector.run() == 2
    assert (connector.sessions, connector.refreshes) == (1, 1)
    mentions = [normalize(e, BRAND) for e in sink.raw]
    assert mentions[0].is_brand and mentions[0].in_reply_to == f"bluesky:{complaint['uri']}"  # noqa: PT018
    assert mentions[1].url == "https://bsky.app/profile/cust.bsky.social/post/3kabc"
    assert checkpoints.saved["bsky"]["search:railco"]["ts"] > 0


async def test_reddit_oauth_reauth_on_401_ratelimit_headers_and_listings(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    tokens = iter(["tok-1", "tok-2"])

    async def token(request: web.Request) -> web.StreamResponse:
        assert request.headers["Authorization"].startswith("Basic ")
        form = await request.post()
        assert form["grant_type"] == "client_credentials"
        return await json_response(
            {
                "access_token": next(tokens),
                "token_type": "bearer",
                "expires_in": 86400,
                "scope": "*",
            }
        )(request)

    listing = {
        "kind": "Listing",
        "data": {
            "after": None,
            "before": None,
            "dist": 2,
            "children": [
                {
                    "kind": "t3",
                    "data": {
                        "name": "t3_abc",
                        "id": "abc",
                        "title": "RailCo lost my luggage",
                        "selftext": "Nobody answers.",
                        "author": "traveller9",
                        "author_fullname": "t2_xyz",
                        "subreddit": "trains",
                        "created_utc": 1763892000.0,
                        "permalink": "/r/trains/comments/abc/railco_lost_my_luggage/",
                        "url": "https://www.reddit.com/r/trains/comments/abc/",
                        "is_self": True,
                    },
                },
                {
                    "kind": "t1",
                    "data": {
                        "name": "t1_def",
                        "id": "def",
                        "body": "Same here",
                        "author": "other",
                        "created_utc": 1763891000.0,
                        "parent_id": "t3_abc",
                        "link_id": "t3_abc",
                        "permalink": "/r/trains/comments/abc/x/def/",
                    },
                },
            ],
        },
    }
    calls = {"n": 0}

    async def search(request: web.Request) -> web.StreamResponse:
        calls["n"] += 1
        assert request.query["raw_json"] == "1"
        if request.headers["Authorization"] == "bearer tok-1":
            return await json_response({"message": "Unauthorized", "error": 401}, 401)(request)
        return await json_response(
            listing,
            headers={
                "x-ratelimit-remaining": "0.0",
                "x-ratelimit-used": "100",
                "x-ratelimit-reset": "42",
            },
        )(request)

    api.route("POST", "/api/v1/access_token", token)
    api.route("GET", "/search", search)
    base = await api.start()
    connector = RedditConnector(
        "reddit",
        Settings(),
        listings=["search:railco"],
        user_agent="linux:mentionflow-test:0.1 (by /u/railco)",
        base_url=base,
        token_url=f"{base}/api/v1/access_token",
        **common(sink, checkpoints),
    )
    connector.api.sleep = no_sleep
    assert await connector.run() == 2
    assert connector.tokens == 2
    assert connector.api._not_before > 0  # remaining 0: the next request waits ~42 s
    post, comment = (normalize(e, BRAND) for e in sink.raw)
    assert post.subject == "RailCo lost my luggage"
    assert comment.in_reply_to == "reddit:t3_abc"


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Rail News</title><link href="https://news.example/"/>
<updated>2026-11-23T10:00:00Z</updated><id>urn:uuid:feed</id>
<entry><title>RailCo strike: trains cancelled</title><link href="https://news.example/strike"/><id>urn:uuid:1</id>
<updated>2026-11-23T09:00:00Z</updated><published>2026-11-23T08:00:00Z</published><author><name>Jo Reporter</name></author>
<summary type="html">&lt;p&gt;Unions announced a &lt;b&gt;48-hour&lt;/b&gt; strike.&lt;/p&gt;</summary></entry>
</feed>"""

RSS2 = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="2.0"><channel><title>Blog</title><link>https://blog.example/</link><description>d</description>
<item><title>Versp\xe4tung again</title><link>https://blog.example/p/2</link><guid>https://blog.example/p/2</guid>
<pubDate>Mon, 23 Nov 2026 07:00:00 +0000</pubDate><description>Mein Zug war sp\xe4t.</description></item>
<item><title>No guid</title><link>https://blog.example/p/1</link><pubDate>Sun, 22 Nov 2026 07:00:00 +0000</pubDate></item>
</channel></rss>"""


async def test_rss_and_atom_conditional_get_and_seen_ids(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    async def atom(request: web.Request) -> web.StreamResponse:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        return web.Response(
            body=ATOM, headers={"ETag": '"v1"', "Content-Type": "application/atom+xml"}
        )

    api.route("GET", "/atom.xml", atom)
    api.route(
        "GET", "/rss.xml", raw_response(RSS2, headers={"Content-Type": "application/rss+xml"})
    )
    api.route(
        "GET",
        "/broken.xml",
        raw_response(b"<html>maintenance</html", headers={"Content-Type": "text/html"}),
    )
    base = await api.start()
    feeds = [f"{base}/atom.xml", f"{base}/rss.xml"]
    assert (
        await RssConnector("rss", Settings(), feeds=feeds, **common(sink, checkpoints)).run() == 3
    )
    assert (
        await RssConnector("rss", Settings(), feeds=feeds, **common(sink, checkpoints)).run() == 0
    )
    assert api.requests[-2].headers["If-None-Match"] == '"v1"'
    strike = normalize(sink.raw[0], BRAND)
    assert strike.text == "RailCo strike: trains cancelled\n\nUnions announced a 48-hour strike."
    assert strike.kind == "article"
    assert strike.author.name == "Jo Reporter"
    umlaut = next(
        normalize(e, BRAND) for e in sink.raw if e.native_id == "https://blog.example/p/2"
    )
    assert umlaut.subject == "Verspätung again"
    broken = RssConnector(
        "rss2", Settings(), feeds=[f"{base}/broken.xml"], **common(sink, checkpoints)
    )
    await broken.run()
    assert sink.dead()[-1]["error"] == "malformed_response"


async def test_instagram_tags_and_comments_with_brand_replies(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    api.route(
        "GET",
        "/v21.0/17841400/tags",
        json_response(
            {
                "data": [
                    {
                        "id": "m900",
                        "caption": "Stuck again @railco",
                        "timestamp": "2026-11-23T10:00:00+0000",
                        "username": "cust",
                        "permalink": "https://www.instagram.com/p/x/",
                        "media_type": "IMAGE",
                    }
                ]
            }
        ),
    )
    api.route(
        "GET",
        "/v21.0/17841400/media",
        json_response(
            {
                "data": [
                    {
                        "id": "m1",
                        "timestamp": "2026-11-23T09:00:00+0000",
                        "username": "railco",
                        "permalink": "https://www.instagram.com/p/m1/",
                    }
                ]
            }
        ),
    )
    api.route(
        "GET",
        "/v21.0/m1/comments",
        json_response(
            {
                "data": [
                    {
                        "id": "c1",
                        "text": "Where is my refund?",
                        "timestamp": "2026-11-23T09:10:00+0000",
                        "username": "cust",
                        "from": {"id": "u77", "username": "cust"},
                        "replies": {
                            "data": [
                                {
                                    "id": "c2",
                                    "text": "@cust DM us",
                                    "timestamp": "2026-11-23T09:20:00+0000",
                                    "username": "railco",
                                    "from": {"id": "17841400", "username": "railco"},
                                }
                            ]
                        },
                    },
                ],
                "paging": {"cursors": {"before": "a", "after": "b"}},
            }
        ),
    )
    connector = InstagramConnector(
        "ig",
        Settings(),
        user_id="17841400",
        username="railco",
        base_url=await api.start(),
        **common(sink, checkpoints),
    )
    assert await connector.run() == 3
    tag, comment, reply = (normalize(e, BRAND) for e in sink.raw)
    assert tag.addressed_to == ["@railco"] and not tag.is_brand  # noqa: PT018
    assert comment.reply_to_brand and comment.in_reply_to == "instagram:m1"  # noqa: PT018
    assert reply.is_brand and reply.in_reply_to == "instagram:c1"  # noqa: PT018


async def test_facebook_feed_paging_watermark_throttle_and_expired_token(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    base = await api.start()
    posts = [
        {
            "id": "PAGE_2",
            "message": "Your app ate my ticket",
            "created_time": "2026-11-23T10:00:00+0000",
            "from": {"id": "u1", "name": "Ann"},
        },
        {
            "id": "PAGE_1",
            "message": "Hello",
            "created_time": "2026-11-23T09:00:00+0000",
            "from": {"id": "PAGE", "name": "RailCo"},
        },
    ]

    async def feed(request: web.Request) -> web.StreamResponse:
        if request.query.get("after") == "c2":
            return await json_response(
                {"data": [posts[1]], "paging": {"cursors": {"before": "c2", "after": "c3"}}}
            )(request)
        if request.query.get("fields", "").startswith("id,created_time"):
            return await json_response({"data": []})(request)
        return await json_response(
            {
                "data": [posts[0]],
                "paging": {
                    "cursors": {"before": "c1", "after": "c2"},
                    "next": f"{base}/v21.0/PAGE/feed?access_token=EAAB-page&after=c2&fields=x",
                },
            },
            headers={"x-app-usage": '{"call_count":95,"total_cputime":10,"total_time":12}'},
        )(request)

    api.route("GET", "/v21.0/PAGE/feed", feed)
    api.route("GET", "/v21.0/PAGE/visitor_posts", json_response({"data": []}))

    def make():
        return FacebookPageConnector(
            "fb", Settings(), page_id="PAGE", base_url=base, **common(sink, checkpoints)
        )

    connector = make()
    connector.api.sleep = no_sleep
    assert await connector.run() == 2
    assert any(w > 200 for w in connector.api.waits)  # x-app-usage 95% >= 90%: next call paused
    assert checkpoints.saved["fb"]["feed"] == {
        "since": int(datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp()),
        "ids": ["PAGE_2"],
    }
    again = make()
    again.api.sleep = no_sleep
    assert await again.run() == 0
    assert normalize(sink.raw[1], BRAND).is_brand

    expired = ApiServer()
    expired.route(
        "GET",
        "/v21.0/PAGE/feed",
        json_response(
            {
                "error": {
                    "message": "Error validating access token: Session has expired on Monday, 23-Nov-26",
                    "type": "OAuthException",
                    "code": 190,
                    "error_subcode": 463,
                    "fbtrace_id": "A",
                }
            },
            400,
        ),
    )
    try:
        gone = FacebookPageConnector(
            "fb2",
            Settings(),
            page_id="PAGE",
            base_url=await expired.start(),
            **common(sink, checkpoints),
        )
        with pytest.raises(AuthExpired, match="Session has expired"):
            await gone.run()
    finally:
        await expired.close()


async def test_bluesky_notifications_keep_mentions_replies_quotes_and_a_refused_refresh_opens_a_session(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    sessions = iter(["a1", "a2"])

    async def create(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        assert body == {"identifier": "railco.bsky.social", "password": "abcd-efgh-ijkl-mnop"}
        token = next(sessions)
        return await json_response(
            {
                "did": "did:plc:brand",
                "handle": "railco.bsky.social",
                "accessJwt": token,
                "refreshJwt": f"r-{token}",
            }
        )(request)

    mention = bsky_post(
        "3m1",
        "did:plc:cust",
        "cust.bsky.social",
        "@railco.bsky.social help",
        "2026-11-23T11:00:00.000Z",
    )
    notes = {
        "notifications": [
            {
                **{k: mention[k] for k in ("uri", "cid", "author", "record", "indexedAt")},
                "reason": "mention",
                "isRead": False,
                "labels": [],
            },
            {
                "uri": "at://did:plc:x/app.bsky.feed.like/1",
                "cid": "c",
                "author": mention["author"],
                "reason": "like",
                "reasonSubject": "at://did:plc:brand/app.bsky.feed.post/1",
                "record": {"$type": "app.bsky.feed.like"},
                "isRead": False,
                "indexedAt": "2026-11-23T11:01:00.000Z",
            },
        ],
        "cursor": "2026-11-23T11:00:00.000Z",
        "seenAt": "2026-11-23T10:00:00.000Z",
    }

    async def notifications(request: web.Request) -> web.StreamResponse:
        if request.headers["Authorization"] == "Bearer a1":
            return await json_response(
                {"error": "ExpiredToken", "message": "Token has expired"}, 400
            )(request)
        if request.query.get("cursor"):
            return await json_response({"notifications": []})(request)
        return await json_response(notes)(request)

    api.route("POST", "/xrpc/com.atproto.server.createSession", create)
    api.route(
        "POST",
        "/xrpc/com.atproto.server.refreshSession",
        json_response({"error": "ExpiredToken", "message": "Token has been revoked"}, 400),
    )
    api.route("GET", "/xrpc/app.bsky.notification.listNotifications", notifications)
    connector = BlueskyConnector(
        "bsky",
        Settings(),
        handle="railco.bsky.social",
        sources=["notifications"],
        service=await api.start(),
        **common(sink, checkpoints),
    )
    assert await connector.run() == 1
    assert (connector.sessions, connector.refreshes) == (2, 0)
    assert normalize(sink.raw[0], BRAND).text == "@railco.bsky.social help"


async def test_facebook_first_run_starts_initial_days_ago(
    api: ApiServer, sink: MemorySink, checkpoints: MemoryCheckpoints
) -> None:
    api.route("GET", "/v21.0/PAGE/feed", json_response({"data": []}))
    before = int(datetime.now(UTC).timestamp())
    connector = FacebookPageConnector(
        "fb",
        Settings(),
        page_id="PAGE",
        edges=("feed",),
        comments=False,
        initial_days=2,
        base_url=await api.start(),
        **common(sink, checkpoints),
    )
    await connector.run()
    since = int(api.requests[0].query["since"])
    assert before - 2 * 86400 - 5 <= since <= before - 2 * 86400 + 5


async def test_reddit_script_app_uses_the_password_grant(
    api: ApiServer,
    sink: MemorySink,
    checkpoints: MemoryCheckpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDDIT_USERNAME", "RailCoSupport")
    monkeypatch.setenv("REDDIT_PASSWORD", "pw")
    grants: list[str] = []

    async def token(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        grants.append(str(form["grant_type"]))
        assert form["username"] == "RailCoSupport"
        return await json_response(
            {"access_token": "t", "token_type": "bearer", "expires_in": 86400, "scope": "*"}
        )(request)

    api.route("POST", "/api/v1/access_token", token)
    api.route(
        "GET",
        "/user/RailCoSupport/comments",
        json_response(
            {
                "kind": "Listing",
                "data": {
                    "after": None,
                    "children": [
                        {
                            "kind": "t1",
                            "data": {
                                "name": "t1_z",
                                "body": "Sorry about that, DM us",
                                "author": "RailCoSupport",
                                "author_fullname": "t2_brand",
                                "created_utc": 1795428000,
                                "parent_id": "t3_abc",
                                "link_id": "t3_abc",
                                "permalink": "/r/trains/comments/abc/x/z/",
                            },
                        }
                    ],
                },
            }
        ),
    )
    base = await api.start()
    connector = RedditConnector(
        "reddit",
        Settings(),
        listings=["user/RailCoSupport/comments"],
        user_agent="test:mentionflow:0.1",
        base_url=base,
        token_url=f"{base}/api/v1/access_token",
        **common(sink, checkpoints),
    )
    assert await connector.run() == 1
    assert grants == ["password"]
    assert normalize(sink.raw[0], BRAND).is_brand
