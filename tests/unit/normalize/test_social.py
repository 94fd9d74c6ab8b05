"""Parsers of the Instagram, YouTube, Mastodon, Bluesky, Reddit and RSS payloads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.mention import Mention
from pipeline.normalize import PARSERS, NormalizeError, normalize

from .conftest import NOW, check, envelope

Parse = Callable[[RawEnvelope], Mention]
BRAND = BrandAccounts.from_mapping(
    {
        "mastodon": ["railco@mastodon.social"],
        "bluesky": ["did:plc:brand"],
        "reddit": ["RailCoSupport"],
    }
)


def run(env: RawEnvelope) -> Mention:
    return check(normalize(env, BRAND, now=NOW))


def test_every_new_type_is_registered() -> None:
    for name in (
        "instagram.media",
        "instagram.comment",
        "youtube.comment",
        "mastodon.status",
        "bluesky.post",
        "reddit.post",
        "reddit.comment",
        "rss.entry",
    ):
        assert name in PARSERS


def test_mastodon_direct_message_reply_to_the_brand() -> None:
    status = {
        "id": "113",
        "created_at": "2026-11-23T10:00:00.000Z",
        "visibility": "direct",
        "in_reply_to_id": "112",
        "in_reply_to_account_id": "9",
        "spoiler_text": "refund",
        "content": '<p><span class="h-card"><a href="https://mastodon.social/@railco">@<span>railco</span></a></span> still waiting &amp; angry</p>',
        "account": {
            "id": "5",
            "acct": "ann@example.social",
            "display_name": "",
            "followers_count": 3,
        },
        "mentions": [{"id": "9", "acct": "railco@mastodon.social"}],
        "media_attachments": [{"type": "image"}],
        "url": "https://example.social/@ann/113",
    }
    m = run(envelope("mastodon", "mastodon.status", status))
    assert m.kind == "direct_message"
    assert m.is_direct
    assert m.text == "refund\n\n@railco still waiting & angry"
    assert m.author.name is None
    assert m.attachments == ["image"]
    assert m.in_reply_to == "mastodon:112"


def test_bluesky_reply_to_the_brand_with_facets() -> None:
    post = {
        "uri": "at://did:plc:cust/app.bsky.feed.post/3kxyz",
        "cid": "bafy",
        "author": {"did": "did:plc:cust", "handle": "cust.bsky.social"},
        "record": {
            "text": "still broken, see status page",
            "createdAt": "2026-11-23T10:00:00.000Z",
            "reply": {
                "root": {"uri": "at://did:plc:brand/app.bsky.feed.post/3kroot", "cid": "r"},
                "parent": {"uri": "at://did:plc:brand/app.bsky.feed.post/3kpar", "cid": "p"},
            },
            "facets": [
                {
                    "index": {"byteStart": 20, "byteEnd": 31},
                    "features": [
                        {
                            "$type": "app.bsky.richtext.facet#link",
                            "uri": "https://status.railco.example",
                        }
                    ],
                }
            ],
        },
        "indexedAt": "2026-11-23T10:00:01.000Z",
    }
    m = run(envelope("bluesky", "bluesky.post", post))
    assert m.kind == "reply"
    assert m.reply_to_brand
    assert m.conversation_id == "at://did:plc:brand/app.bsky.feed.post/3kroot"
    assert m.links == ["https://status.railco.example"]


def test_reddit_deleted_author_and_comment_reply() -> None:
    comment = {
        "name": "t1_b",
        "body": "me too",
        "author": "[deleted]",
        "created_utc": 1795428000,
        "parent_id": "t1_a",
        "link_id": "t3_x",
        "permalink": "/r/trains/comments/x/y/b/",
    }
    m = run(envelope("reddit", "reddit.comment", comment))
    assert m.kind == "reply"
    assert m.author.handle is None
    assert m.url == "https://www.reddit.com/r/trains/comments/x/y/b/"


def test_youtube_comment_by_the_channel_is_the_brands() -> None:
    comment = {
        "id": "Ugz.r",
        "snippet": {
            "textOriginal": "We are on it",
            "publishedAt": "2026-11-23T10:00:00Z",
            "authorChannelId": {"value": "UCbrand"},
            "authorDisplayName": "@RailCo",
            "parentId": "Ugz",
            "videoId": "v1",
        },
    }
    m = run(envelope("youtube", "youtube.comment", comment, channel_id="UCbrand"))
    assert m.is_brand
    assert m.url == "https://www.youtube.com/watch?v=v1&lc=Ugz.r"


@pytest.mark.parametrize(
    ("source", "type_", "payload", "code"),
    [
        (
            "mastodon",
            "mastodon.status",
            {"id": "1", "created_at": "2026-11-23T10:00:00Z", "account": {}},
            "missing_field",
        ),
        (
            "bluesky",
            "bluesky.post",
            {"uri": "at://x/y/z", "author": {}, "record": {"text": "t"}},
            "missing_field",
        ),
        (
            "reddit",
            "reddit.post",
            {"name": "t3_a", "title": "x", "created_utc": "yesterday"},
            "bad_timestamp",
        ),
        ("youtube", "youtube.comment", {"id": "a", "snippet": "not an object"}, "invalid_payload"),
        (
            "instagram",
            "instagram.comment",
            {"id": "c", "text": "t", "timestamp": "2026-11-23T10:00:00+0000"},
            "missing_field",
        ),
        ("rss", "rss.entry", {"id": "e", "title": "t"}, "missing_field"),
        (
            "rss",
            "rss.entry",
            {"id": "e", "title": "t", "published": "2031-01-01T00:00:00Z"},
            "bad_timestamp",
        ),
    ],
)
def test_broken_payloads_give_a_code_and_a_reason(
    source: str, type_: str, payload: dict[str, Any], code: str
) -> None:
    with pytest.raises(NormalizeError) as caught:
        normalize(envelope(source, type_, payload), BRAND, now=NOW)
    assert caught.value.code == code
