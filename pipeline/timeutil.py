"""Timestamps on the wire: ISO-8601 / RFC 3339 in UTC with a trailing ``Z``.

Every datetime inside the pipeline is timezone-aware UTC. Naive datetimes are rejected
rather than guessed: a wrong time zone silently shifts every SLA deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["format_ts", "from_epoch", "parse_rfc2822", "parse_ts", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(value: datetime) -> str:
    """``2026-11-23T10:04:05.123Z`` (millisecond precision, UTC)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: time zone unknown")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(value: str) -> datetime:
    """Parse an ISO-8601 timestamp with an explicit offset or ``Z``; returns UTC.

    Raises ``ValueError`` on garbage, on a timestamp without a zone and on one that has no
    UTC equivalent (``0001-01-01T00:00:00+14:00``).
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"timestamp must be a non-empty string, got {value!r}")
    text = value.strip()
    # Facebook Graph writes "+0000" (no colon); Python 3.11 accepts it too.
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp {value!r} is out of range in UTC") from None


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_rfc2822(value: str) -> datetime:
    """Parse an e-mail ``Date:`` header; a header without a zone counts as UTC (RFC 5322 -0000)."""
    parsed = parsedate_to_datetime(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
