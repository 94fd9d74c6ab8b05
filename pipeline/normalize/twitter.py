"""X/Twitter API v2: tweets (``twitter.tweet``) and direct-message events (``twitter.dm``).

``twitter.tweet`` payload: one tweet as the v2 endpoints return it, wrapped with its
expansions, ``{"data": <tweet>, "includes": {"users": [...], "tweets": [...]}}``, fetched with
``expansions=author_id,referenced_tweets.id,in_reply_to_user_id``,
``tweet.fields=created_at,lang,conversation_id,in_reply_to_user_id,referenced_tweets,entities,public_metrics``
and ``user.fields=username,name,verified,public_metrics``. A bare tweet object is accepted too.

``twitter.dm`` payload: ``{"data": <dm event>, "includes": {"users": [...]}}`` from
``GET /2/dm_events`` with ``dm_event.fields=id,text,event_type,created_at,sender_id,
dm_conversation_id,participant_ids,attachments`` and ``expansions=sender_id``.
Only ``MessageCreate`` events are mentions.
"""

from __future__ import annotations

from typing import Any

from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.mention import Author, Mention, mention_id
from pipeline.normalize.common import (
    as_dict,
    as_list,
    clean_text,
    count,
    opt_id,
    opt_str,
    parse_time,
    req_id,
    req_str,
)
from pipeline.normalize.errors import NormalizeError

__all__ = ["parse_dm", "parse_tweet"]

SOURCE = "twitter"


def _unwrap(payload: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    body = as_dict(payload, "payload")
    if "data" in body:
        return as_dict(body["data"], "payload.data"), as_dict(
            body.get("includes") or {}, "payload.includes"
        )
    return body, {}


def _users(includes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = {}
    for i, user in enumerate(as_list(includes.get("users"), "payload.includes.users")):
        user = as_dict(user, f"payload.includes.users[{i}]")
        uid = opt_id(user, "id", f"payload.includes.users[{i}]")
        if uid is not None:
            users[uid] = user
    return users


def _author(author_id: str | None, users: dict[str, dict[str, Any]]) -> Author:
    user = users.get(author_id or "")
    if user is None:
        return Author(id=author_id)
    metrics = user.get("public_metrics")
    followers = metrics.get("followers_count") if isinstance(metrics, dict) else None
    return Author(
        id=author_id,
        handle=opt_str(user, "username", "payload.includes.users[]"),
        name=opt_str(user, "name", "payload.includes.users[]"),
        followers=count(followers),
        verified=user.get("verified") is True,
    )


def parse_tweet(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    tweet, includes = _unwrap(envelope.payload)
    where = "payload.data"
    native_id = req_id(tweet, "id", where)
    text = req_str(tweet, "text", where, allow_empty=True)
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str) and note["text"]:
        # Long posts (> 280 characters): "text" is cut, the full text is in note_tweet.
        text = note["text"]
    created_at = parse_time(tweet, "created_at", where)
    author_id = opt_id(tweet, "author_id", where)
    users = _users(includes)
    author = _author(author_id, users)

    replied_to: str | None = None
    for i, ref in enumerate(as_list(tweet.get("referenced_tweets"), f"{where}.referenced_tweets")):
        ref = as_dict(ref, f"{where}.referenced_tweets[{i}]")
        if ref.get("type") == "replied_to":
            replied_to = req_id(ref, "id", f"{where}.referenced_tweets[{i}]")
    in_reply_to_user = opt_id(tweet, "in_reply_to_user_id", where)

    # With expansions=in_reply_to_user_id the replied-to user is in includes.users, so a
    # brand configured by handle only is recognised as well as one configured by id.
    reply_to_brand = brand.is_brand_account(SOURCE, in_reply_to_user) or (
        in_reply_to_user is not None
        and brand.is_brand_account(SOURCE, users.get(in_reply_to_user, {}).get("username"))
    )
    if replied_to is not None and not reply_to_brand:
        for i, other in enumerate(as_list(includes.get("tweets"), "payload.includes.tweets")):
            if isinstance(other, dict) and str(other.get("id")) == replied_to:
                parent_author = opt_id(other, "author_id", f"payload.includes.tweets[{i}]")
                parent_user = users.get(parent_author or "", {})
                reply_to_brand = brand.is_brand_account(SOURCE, parent_author) or (
                    brand.is_brand_account(SOURCE, parent_user.get("username"))
                )
                break

    addressed: list[str] = []
    links: list[str] = []
    entities = tweet.get("entities")
    if entities is not None:
        entities = as_dict(entities, f"{where}.entities")
        for m in as_list(entities.get("mentions"), f"{where}.entities.mentions"):
            if isinstance(m, dict) and isinstance(m.get("username"), str):
                handle = "@" + m["username"].lower()
                if handle not in addressed:
                    addressed.append(handle)
        for u in as_list(entities.get("urls"), f"{where}.entities.urls"):
            if isinstance(u, dict):
                link = u.get("unwound_url") or u.get("expanded_url") or u.get("url")
                if isinstance(link, str) and link not in links:
                    links.append(link)
                short = u.get("url")
                if isinstance(short, str) and short and isinstance(link, str) and short != link:
                    # Readers and the relevance stage see where a t.co link really points.
                    text = text.replace(short, link)

    handle = author.handle
    url = (
        f"https://x.com/{handle}/status/{native_id}"
        if handle
        else f"https://x.com/i/web/status/{native_id}"
    )
    return Mention(
        id=mention_id(SOURCE, native_id),
        source=SOURCE,
        native_id=native_id,
        kind="reply" if replied_to is not None else "post",
        created_at=created_at,
        received_at=envelope.fetched_at,
        text=clean_text(text, unescape=True),
        author=author,
        url=url,
        in_reply_to=mention_id(SOURCE, replied_to) if replied_to else None,
        in_reply_to_user=in_reply_to_user,
        conversation_id=opt_id(tweet, "conversation_id", where),
        addressed_to=addressed,
        is_brand=brand.is_brand(SOURCE, author_id, handle),
        is_direct=False,
        reply_to_brand=reply_to_brand,
        links=links,
    )


def parse_dm(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    event, includes = _unwrap(envelope.payload)
    where = "payload.data"
    event_type = event.get("event_type", "MessageCreate")
    if event_type != "MessageCreate":
        raise NormalizeError(
            "unsupported_type", f"{where}.event_type {event_type!r} is not a message"
        )
    native_id = req_id(event, "id", where)
    text = req_str(event, "text", where, allow_empty=True)
    created_at = parse_time(event, "created_at", where)
    sender_id = req_id(event, "sender_id", where)
    author = _author(sender_id, _users(includes))
    participants = [
        str(p) for p in as_list(event.get("participant_ids"), f"{where}.participant_ids")
    ]
    conversation = opt_id(event, "dm_conversation_id", where)
    if not participants and conversation and "-" in conversation:
        # One-to-one conversation ids are "<user id>-<user id>".
        participants = conversation.split("-")
    attachments: list[str] = []
    raw_attachments = event.get("attachments")
    if isinstance(raw_attachments, dict):
        attachments = [
            f"media:{k}"
            for k in as_list(raw_attachments.get("media_keys"), f"{where}.attachments.media_keys")
        ]
    return Mention(
        id=mention_id(SOURCE, native_id),
        source=SOURCE,
        native_id=native_id,
        kind="direct_message",
        created_at=created_at,
        received_at=envelope.fetched_at,
        text=clean_text(text, unescape=True),
        author=author,
        url=f"https://x.com/messages/{conversation}" if conversation else None,
        conversation_id=conversation,
        addressed_to=[p for p in participants if p != sender_id],
        is_brand=brand.is_brand(SOURCE, sender_id, author.handle),
        is_direct=True,
        reply_to_brand=False,
        attachments=attachments,
    )
