"""Structured JSON logs with correlation ids, one object a line on stderr.

Every record carries ``ts`` (UTC, ISO-8601 ``Z``), ``level``, ``logger``, ``message`` and
the correlation ids bound with :func:`correlate` (``mention_id``, ``case_id``), plus any
``extra={...}`` fields. Personal data stays out of INFO and above: e-mail addresses and
``@handles`` in the message and extra fields are replaced by ``<email>`` / ``<handle>``;
only DEBUG keeps them (turn DEBUG on deliberately, with ``MENTIONFLOW_LOG_LEVEL=DEBUG``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

__all__ = ["JsonFormatter", "configure_logging", "correlate", "logging_config", "redact"]

_CORRELATION: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "mentionflow_correlation", default=None
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"(?<![\w@])@\w{1,64}")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """``text`` with e-mail addresses and ``@handles`` masked."""
    return _HANDLE.sub("<handle>", _EMAIL.sub("<email>", text))


def _scrub(value: Any) -> Any:
    """``value`` with personal data masked in every string inside it (dicts, lists, tuples:
    an ``extra={"author": {...}}`` must not smuggle an address past :func:`redact`)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_scrub(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


@contextlib.contextmanager
def correlate(**ids: str | None) -> Iterator[None]:
    """Bind correlation ids (``mention_id=..., case_id=...``) to every log line inside."""
    merged = {**(_CORRELATION.get() or {}), **{k: v for k, v in ids.items() if v is not None}}
    token = _CORRELATION.set(merged)
    try:
        yield
    finally:
        _CORRELATION.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object a record; personal data masked at INFO and above."""

    def format(self, record: logging.LogRecord) -> str:
        scrub = record.levelno > logging.DEBUG
        message = record.getMessage()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(message) if scrub else message,
        }
        entry.update(_CORRELATION.get() or {})
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            entry[key] = _scrub(value) if scrub else value
        if record.exc_info:
            text = self.formatException(record.exc_info)
            entry["exception"] = redact(text) if scrub else text
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: JSON lines on stderr at ``level``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
                "level": level.upper(),
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
    }


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Route every logger through one JSON handler at ``level`` (CLI processes)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
