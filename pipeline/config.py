"""YAML configuration files (watch list, SLA policies, calendars, routing, connectors).

Errors name the file, the key path and what was expected, e.g.
``config/sla.yaml: policies[2].first_response: expected a duration like '15m' or '4h', got 'soon'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "load_yaml", "require"]


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid."""

    def __init__(self, file: str | Path, key: str, expected: str, got: Any = ...) -> None:
        self.file, self.key, self.expected = str(file), key, expected
        where = f"{file}: {key}" if key else str(file)
        message = f"{where}: expected {expected}"
        if got is not ...:
            shown = repr(got)
            message += f", got {shown[:120] + '...' if len(shown) > 120 else shown}"
        super().__init__(message)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error becomes a :class:`ConfigError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "", "an existing file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "", f"a readable UTF-8 file ({exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(file, line, f"valid YAML ({getattr(exc, 'problem', exc)})") from None


def require(
    file: str | Path, key: str, value: Any, kind: type | tuple[type, ...], expected: str
) -> Any:
    """Return ``value`` if it is an instance of ``kind``, else raise a :class:`ConfigError`."""
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(file, key, expected, value)
    return value
