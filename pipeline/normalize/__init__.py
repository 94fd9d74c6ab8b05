"""Raw envelope -> normalised mention: one parser per payload type, one entry point.

:func:`normalize` is pure (values in, values out) and total: every failure is a
:class:`NormalizeError` with a short ``code`` and a ``reason`` naming the field, which the
normalise agent turns into a dead letter. It is deterministic for a given envelope (the
mention id is ``source:native_id``; ``received_at`` is the envelope's ``fetched_at``), so a
redelivered envelope yields an identical mention.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.mention import Mention
from pipeline.normalize import email, facebook, social, twitter, webhook
from pipeline.normalize.common import MAX_TEXT, TRUNCATION_MARK, check_time, detect_lang, truncate
from pipeline.normalize.errors import CODES, NormalizeError
from pipeline.timeutil import utc_now

__all__ = [
    "CODES",
    "MAX_TEXT",
    "PARSERS",
    "TRUNCATION_MARK",
    "NormalizeError",
    "normalize",
]

Parser = Callable[[RawEnvelope, BrandAccounts], Mention]

#: Longest mention id accepted (``source:native_id``); platform ids are far shorter.
MAX_ID = 1024
_ID_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

#: Envelope ``type`` -> (required envelope source or None for any, parser).
PARSERS: dict[str, tuple[str | None, Parser]] = {
    "twitter.tweet": ("twitter", twitter.parse_tweet),
    "twitter.dm": ("twitter", twitter.parse_dm),
    "facebook.post": ("facebook", facebook.parse_post),
    "facebook.comment": ("facebook", facebook.parse_comment),
    "facebook.messenger": ("facebook", facebook.parse_messenger),
    "email.rfc822": ("email", email.parse_email),
    "webhook.post": (None, webhook.parse_webhook),
    "instagram.media": ("instagram", social.parse_instagram_media),
    "instagram.comment": ("instagram", social.parse_instagram_comment),
    "youtube.comment": ("youtube", social.parse_youtube_comment),
    "mastodon.status": ("mastodon", social.parse_mastodon_status),
    "bluesky.post": ("bluesky", social.parse_bluesky_post),
    "reddit.post": ("reddit", social.parse_reddit_post),
    "reddit.comment": ("reddit", social.parse_reddit_comment),
    "rss.entry": ("rss", social.parse_rss_entry),
}


def normalize(
    envelope: RawEnvelope, brand: BrandAccounts, *, now: datetime | None = None
) -> Mention:
    """The mention in ``envelope``; raises :class:`NormalizeError`, never anything else.

    ``now`` (UTC, default: the wall clock) bounds plausible timestamps: a ``created_at``
    more than a day after ``now`` or before 1995 is ``bad_timestamp``. Text longer than
    :data:`MAX_TEXT` characters is cut and ends with :data:`TRUNCATION_MARK`.
    """
    entry = PARSERS.get(envelope.type)
    if entry is None:
        raise NormalizeError(
            "unsupported_type",
            f"envelope type {envelope.type!r} is not one of {', '.join(sorted(PARSERS))}",
        )
    source, parser = entry
    if source is not None and envelope.source != source:
        raise NormalizeError(
            "invalid_payload",
            f"envelope source {envelope.source!r} does not match type {envelope.type!r}",
        )
    try:
        mention = parser(envelope, brand)
        _check_id(mention.id)
        check_time(mention.created_at, "created_at", now or utc_now())
        mention.text = truncate(mention.text)
        mention.lang = detect_lang(mention.text)
    except NormalizeError:
        raise
    except Exception as exc:
        raise NormalizeError(
            "parse_error", f"{envelope.type}: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
    return mention


def _check_id(value: str) -> None:
    """Ids become Kafka keys, table keys and ticket references: no control characters."""
    if len(value) > MAX_ID:
        raise NormalizeError("invalid_payload", f"id has {len(value)} characters (limit {MAX_ID})")
    if _ID_CONTROL_RE.search(value):
        raise NormalizeError("invalid_payload", f"id {value[:80]!r} contains control characters")
