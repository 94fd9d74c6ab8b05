"""Mentions from loose JSON: a full mention v1 or a minimal ``{"id", "text"}`` record.

Missing fields take defaults: ``source`` "webhook", ``kind`` "post", ``created_at`` and
``received_at`` the Unix epoch (UTC) unless given, ``lang`` "und" (detected later).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from pipeline.mention import KINDS, Author, Kind, Mention
from pipeline.timeutil import parse_ts

__all__ = ["mention_from_record"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def mention_from_record(data: Any) -> Mention:
    """Build a :class:`Mention`; raises ``ValueError`` with a readable reason if unusable."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if "id" not in data or data["id"] is None:
        raise ValueError("missing 'id'")
    if not isinstance(data["id"], str | int) or isinstance(data["id"], bool):
        raise ValueError(f"'id' must be a string or an integer, got {type(data['id']).__name__}")
    text = data.get("text")
    if not isinstance(text, str):
        raise ValueError("missing or non-string 'text'")
    source = str(data.get("source") or "webhook")
    kind = data.get("kind") or ("email" if source == "email" else "post")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    try:
        created = parse_ts(data["created_at"]) if data.get("created_at") else _EPOCH
        received = parse_ts(data["received_at"]) if data.get("received_at") else created
    except (ValueError, TypeError) as exc:
        raise ValueError(f"bad timestamp: {exc}") from None
    author_raw = data.get("author")
    if isinstance(author_raw, str):
        author = Author(handle=author_raw.lstrip("@"))
    elif isinstance(author_raw, dict):
        try:
            author = Author.from_dict(author_raw)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"bad author: {exc}") from None
    else:
        author = Author()

    def strings(key: str) -> list[str]:
        value = data.get(key) or []
        return [str(x) for x in value] if isinstance(value, list) else [str(value)]

    def opt(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value)

    return Mention(
        id=str(data["id"]),
        source=source,
        native_id=str(data.get("native_id") or data["id"]),
        kind=cast(Kind, kind),
        created_at=created,
        received_at=received,
        text=text,
        author=author,
        lang=str(data.get("lang") or "und"),
        subject=opt("subject"),
        url=opt("url"),
        in_reply_to=opt("in_reply_to"),
        in_reply_to_user=opt("in_reply_to_user"),
        conversation_id=opt("conversation_id"),
        addressed_to=strings("addressed_to"),
        is_brand=bool(data.get("is_brand", False)),
        is_direct=bool(data.get("is_direct", False)) or kind in ("direct_message", "email"),
        reply_to_brand=bool(data.get("reply_to_brand", False)),
        attachments=strings("attachments"),
        links=strings("links"),
    )
