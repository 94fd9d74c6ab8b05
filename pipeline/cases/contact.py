"""A contact: one escalated mention as the contact join sees it.

Parsed from an escalation v1 record (``{"mention": ..., "decision": ...}``), a mention v1
with classification fields at the top level, or a minimal object
``{"id", "source", "created_at", "text", "author": {"id", "handle", "name", "email"}}``.
:func:`Contact.parse` raises :class:`ContactError` with a reason a human can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.identity.graph import Probe
from pipeline.identity.keys import extract_keys
from pipeline.identity.names import issue_tokens, name_tokens
from pipeline.timeutil import format_ts, parse_ts

__all__ = ["PRIORITIES", "Contact", "ContactError"]

PRIORITIES = ("P1", "P2", "P3", "P4")


class ContactError(ValueError):
    """The record is not a usable contact; the message says why."""


@dataclass(slots=True)
class Contact:
    """One escalated mention. ``created_at`` is event time (UTC)."""

    mention_id: str
    source: str
    kind: str
    created_at: datetime
    text: str = ""
    subject: str | None = None
    url: str | None = None
    lang: str = "und"
    author_id: str | None = None
    handle: str | None = None
    name: str | None = None
    email: str | None = None
    priority: str | None = None
    category: str | None = None
    entities: list[str] = field(default_factory=list)
    is_brand: bool = False

    @classmethod
    def parse(cls, data: Any) -> Contact:
        """Build from an escalation v1, a mention v1 or a minimal mention dict."""
        if not isinstance(data, dict):
            raise ContactError(f"expected a JSON object, got {type(data).__name__}")
        decision: dict[str, Any] = {}
        if isinstance(data.get("mention"), dict):
            if isinstance(data.get("decision"), dict):
                decision = data["decision"]
            data = data["mention"]
        elif isinstance(data.get("decision"), dict):
            decision = data["decision"]
        for name in ("id", "source", "created_at"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise ContactError(f"field {name!r} must be a non-empty string")
        try:
            created = parse_ts(data["created_at"])
        except ValueError as exc:
            raise ContactError(f"field 'created_at': {exc}") from None
        author = data.get("author") or {}
        if not isinstance(author, dict):
            raise ContactError("field 'author' must be an object")
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise ContactError("field 'text' must be a string")

        def pick(name: str) -> Any:
            return decision.get(name, data.get(name))

        priority = pick("priority")
        if priority is not None and priority not in PRIORITIES:
            raise ContactError(f"field 'priority' must be one of {', '.join(PRIORITIES)} or null")
        entities = pick("entities") or []
        if not isinstance(entities, list):
            raise ContactError("field 'entities' must be a list of strings")
        source = data["source"]
        kind = data.get("kind") or ("email" if source == "email" else "post")
        return cls(
            mention_id=data["id"],
            source=source,
            kind=str(kind),
            created_at=created,
            text=text or "",
            subject=_opt(data.get("subject")),
            url=_opt(data.get("url")),
            lang=str(data.get("lang") or "und"),
            author_id=_opt(author.get("id")),
            handle=_opt(author.get("handle")),
            name=_opt(author.get("name")),
            email=_opt(author.get("email")),
            priority=priority,
            category=_opt(pick("category")),
            entities=sorted({str(e) for e in entities}),
            is_brand=bool(data.get("is_brand", False)),
        )

    def keys(self, default_country: str = "49") -> list[str]:
        return extract_keys(
            source=self.source,
            author_id=self.author_id,
            handle=self.handle,
            email=self.email,
            texts=(self.subject, self.text),
            default_country=default_country,
        )

    def probe(self, default_country: str = "49") -> Probe:
        """The identity-graph view: keys, name tokens (display name, else handle), issue words."""
        name = name_tokens(self.name) or name_tokens(self.handle)
        return Probe(
            mention_id=self.mention_id,
            source=self.source,
            at=self.created_at.timestamp(),
            keys=tuple(self.keys(default_country)),
            name=tuple(name),
            issue=tuple(issue_tokens(f"{self.subject or ''} {self.text}")),
        )

    def entry(self) -> dict[str, Any]:
        """The contact as listed in a case (case v1 ``contacts[]``)."""
        return {
            "mention_id": self.mention_id,
            "source": self.source,
            "kind": self.kind,
            "created_at": format_ts(self.created_at),
            "url": self.url,
            "from_customer": not self.is_brand,
            "lang": self.lang,
            "priority": self.priority,
            "category": self.category,
            "entities": list(self.entities),
        }


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def contact_to_dict(contact: Contact) -> dict[str, Any]:
    """Lossless JSON-ready form (internal topics, tables); inverse of :func:`contact_from_dict`."""
    return {
        "id": contact.mention_id,
        "source": contact.source,
        "kind": contact.kind,
        "created_at": format_ts(contact.created_at),
        "text": contact.text,
        "subject": contact.subject,
        "url": contact.url,
        "lang": contact.lang,
        "author": {
            "id": contact.author_id,
            "handle": contact.handle,
            "name": contact.name,
            "email": contact.email,
        },
        "priority": contact.priority,
        "category": contact.category,
        "entities": list(contact.entities),
        "is_brand": contact.is_brand,
    }


def contact_from_dict(data: dict[str, Any]) -> Contact:
    return Contact.parse(data)
