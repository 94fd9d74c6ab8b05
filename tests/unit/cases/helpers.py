from __future__ import annotations

from typing import Any

from pipeline.cases.contact import Contact


def mention(
    mid: str,
    source: str,
    at: str,
    text: str,
    *,
    name: str | None = None,
    email: str | None = None,
    author_id: str | None = None,
    handle: str | None = None,
    **extra: Any,
) -> Contact:
    return Contact.parse(
        {
            "id": mid,
            "source": source,
            "created_at": at,
            "text": text,
            "author": {"id": author_id, "handle": handle, "name": name, "email": email},
            **extra,
        }
    )
