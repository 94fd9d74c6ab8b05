"""The normalised mention (topic ``mentions.normalized``, schema ``mention`` v1).

One post, comment, message or e-mail, whatever the network, in one shape. Plain data:
nothing here knows Kafka. ``Mention.id`` is ``"<source>:<native_id>"`` and stable across
re-fetches, so every later stage can be idempotent on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from pipeline.timeutil import format_ts, parse_ts

__all__ = ["KINDS", "SOURCES", "Author", "Mention", "mention_id"]

SCHEMA_VERSION = 1

#: Networks and channels a mention can come from.
SOURCES = (
    "twitter",
    "facebook",
    "instagram",
    "youtube",
    "mastodon",
    "bluesky",
    "reddit",
    "rss",
    "email",
    "webhook",
)

#: What the item is on its network.
#: ``post``: a public top-level post; ``comment``/``reply``: under someone else's post;
#: ``direct_message``: private to the brand; ``email``: a message to a brand mailbox.
KINDS = ("post", "comment", "reply", "direct_message", "email", "article")

Kind = Literal["post", "comment", "reply", "direct_message", "email", "article"]


def mention_id(source: str, native_id: str) -> str:
    """The stable id of a mention: ``"<source>:<native_id>"``."""
    return f"{source}:{native_id}"


@dataclass(slots=True)
class Author:
    """Who wrote it. ``id`` is the network's immutable user id (handles change, ids do not)."""

    id: str | None = None
    handle: str | None = None
    name: str | None = None
    email: str | None = None
    followers: int | None = None
    verified: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Author:
        followers = data.get("followers")
        return cls(
            id=_opt_str(data.get("id")),
            handle=_opt_str(data.get("handle")),
            name=_opt_str(data.get("name")),
            email=_opt_str(data.get("email")),
            followers=int(followers) if followers is not None else None,
            verified=bool(data.get("verified", False)),
        )


@dataclass(slots=True)
class Mention:
    """A normalised mention.

    Times are timezone-aware UTC. ``created_at`` is when the customer posted (event time,
    the start of every SLA clock); ``received_at`` is when a connector fetched it.
    ``is_brand`` marks the company's own posts and replies (they stop SLA clocks, they
    never escalate). ``is_direct`` marks private channels: direct messages and e-mail to
    a brand mailbox.
    """

    id: str
    source: str
    native_id: str
    kind: Kind
    created_at: datetime
    received_at: datetime
    text: str
    author: Author = field(default_factory=Author)
    lang: str = "und"
    subject: str | None = None
    url: str | None = None
    in_reply_to: str | None = None
    in_reply_to_user: str | None = None
    conversation_id: str | None = None
    addressed_to: list[str] = field(default_factory=list)
    is_brand: bool = False
    is_direct: bool = False
    reply_to_brand: bool = False
    attachments: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the field order of the schema."""
        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "source": self.source,
            "native_id": self.native_id,
            "kind": self.kind,
            "created_at": format_ts(self.created_at),
            "received_at": format_ts(self.received_at),
            "text": self.text,
            "author": {
                "id": self.author.id,
                "handle": self.author.handle,
                "name": self.author.name,
                "email": self.author.email,
                "followers": self.author.followers,
                "verified": self.author.verified,
            },
            "lang": self.lang,
            "subject": self.subject,
            "url": self.url,
            "in_reply_to": self.in_reply_to,
            "in_reply_to_user": self.in_reply_to_user,
            "conversation_id": self.conversation_id,
            "addressed_to": self.addressed_to,
            "is_brand": self.is_brand,
            "is_direct": self.is_direct,
            "reply_to_brand": self.reply_to_brand,
            "attachments": self.attachments,
            "links": self.links,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mention:
        """Build from a schema-valid dict. Raises ``KeyError``/``ValueError``/``TypeError``."""
        return cls(
            id=str(data["id"]),
            source=str(data["source"]),
            native_id=str(data["native_id"]),
            kind=data["kind"],
            created_at=parse_ts(data["created_at"]),
            received_at=parse_ts(data["received_at"]),
            text=str(data["text"]),
            author=Author.from_dict(data.get("author") or {}),
            lang=str(data.get("lang") or "und"),
            subject=_opt_str(data.get("subject")),
            url=_opt_str(data.get("url")),
            in_reply_to=_opt_str(data.get("in_reply_to")),
            in_reply_to_user=_opt_str(data.get("in_reply_to_user")),
            conversation_id=_opt_str(data.get("conversation_id")),
            addressed_to=[str(x) for x in data.get("addressed_to") or []],
            is_brand=bool(data.get("is_brand", False)),
            is_direct=bool(data.get("is_direct", False)),
            reply_to_brand=bool(data.get("reply_to_brand", False)),
            attachments=[str(x) for x in data.get("attachments") or []],
            links=[str(x) for x in data.get("links") or []],
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
        )

    @classmethod
    def from_json(cls, payload: bytes | str) -> Mention:
        return cls.from_dict(orjson.loads(payload))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
