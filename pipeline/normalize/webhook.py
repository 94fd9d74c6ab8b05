"""The generic JSON shape (``webhook.post``) for connectors without a parser of their own.

Payload (only ``id``, ``text`` and ``created_at`` are required)::

    {"id": "abc123", "text": "...", "created_at": "2026-11-23T10:00:00Z",
     "kind": "post" | "comment" | "reply" | "direct_message" | "email" | "article",
     "author": {"id": "...", "handle": "...", "name": "...", "email": "...",
                "followers": 12, "verified": false},
     "url": "https://...", "subject": "...", "in_reply_to": "<native id of the parent>",
     "conversation_id": "...", "addressed_to": ["@brand"], "links": ["https://..."],
     "attachments": ["photo.jpg"], "is_direct": false}

The mention's source is the envelope's ``source`` (``webhook``, ``mastodon``, ``rss``, ...),
so any network can use it. The brand is recognised from the author's id, handle or e-mail.
"""

from __future__ import annotations

from typing import Any

from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.mention import KINDS, SOURCES, Author, Mention, mention_id
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

__all__ = ["parse_webhook"]


def _strings(obj: dict[str, Any], key: str, where: str) -> list[str]:
    out: list[str] = []
    for i, item in enumerate(as_list(obj.get(key), f"{where}.{key}")):
        if not isinstance(item, str):
            raise NormalizeError(
                "invalid_payload", f"{where}.{key}[{i}] must be a string, got {type(item).__name__}"
            )
        out.append(item)
    return out


def parse_webhook(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    source = envelope.source
    if source not in SOURCES:
        raise NormalizeError(
            "invalid_payload", f"envelope source {source!r} is not one of {SOURCES}"
        )
    where = "payload"
    post = as_dict(envelope.payload, where)
    native_id = req_id(post, "id", where)
    kind = post.get("kind", "post")
    if kind not in KINDS:
        raise NormalizeError("invalid_payload", f"{where}.kind {kind!r} is not one of {KINDS}")
    raw_author = as_dict(post.get("author") or {}, f"{where}.author")
    followers = raw_author.get("followers")
    if followers is not None and count(followers) is None:
        raise NormalizeError("invalid_payload", f"{where}.author.followers must be an integer >= 0")
    author = Author(
        id=opt_id(raw_author, "id", f"{where}.author"),
        handle=opt_str(raw_author, "handle", f"{where}.author"),
        name=opt_str(raw_author, "name", f"{where}.author"),
        email=opt_str(raw_author, "email", f"{where}.author"),
        followers=followers,
        verified=raw_author.get("verified") is True,
    )
    parent = opt_id(post, "in_reply_to", where)
    is_direct = post.get("is_direct")
    if is_direct is None:
        is_direct = kind in ("direct_message", "email")
    return Mention(
        id=mention_id(source, native_id),
        source=source,
        native_id=native_id,
        kind=kind,
        created_at=parse_time(post, "created_at", where),
        received_at=envelope.fetched_at,
        text=clean_text(req_str(post, "text", where, allow_empty=True)),
        author=author,
        subject=opt_str(post, "subject", where),
        url=opt_str(post, "url", where),
        in_reply_to=mention_id(source, parent) if parent else None,
        conversation_id=opt_id(post, "conversation_id", where),
        addressed_to=_strings(post, "addressed_to", where),
        is_brand=brand.is_brand(source, author.id, author.handle, author.email),
        is_direct=bool(is_direct),
        reply_to_brand=post.get("reply_to_brand") is True,
        attachments=_strings(post, "attachments", where),
        links=_strings(post, "links", where),
    )
