"""The one exception every parser raises: a short machine code plus a readable reason."""

from __future__ import annotations

__all__ = ["CODES", "NormalizeError"]

#: Machine codes a :class:`NormalizeError` carries (they become the dead letter's ``error``).
CODES = (
    "invalid_payload",  # wrong shape or type somewhere in the payload
    "unsupported_type",  # envelope type (or DM event type) this normaliser does not read
    "missing_field",  # a required field is absent or empty
    "bad_timestamp",  # unparseable, zoneless or implausible time
    "bad_mime",  # the bytes are not a usable RFC 5322 message
    "parse_error",  # an unexpected exception inside a parser (a bug: the reason says where)
)


class NormalizeError(ValueError):
    """A raw envelope cannot become a mention. ``code`` is one of :data:`CODES`."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
