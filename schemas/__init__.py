"""JSON Schemas (draft 2020-12) of every topic: the contract with downstream consumers.

Files are named ``<name>.v<version>.json``. A published version never changes
incompatibly; a breaking change ships as a new version (see ``schemas.compat``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator, FormatChecker

__all__ = ["SCHEMA_DIR", "available", "load", "validate", "validator"]

SCHEMA_DIR = Path(__file__).resolve().parent
_NAME = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.json$")


def available() -> dict[str, list[int]]:
    """Schema name -> sorted versions present."""
    found: dict[str, list[int]] = {}
    for path in SCHEMA_DIR.glob("*.json"):
        match = _NAME.match(path.name)
        if match:
            found.setdefault(match["name"], []).append(int(match["version"]))
    return {name: sorted(versions) for name, versions in sorted(found.items())}


@functools.cache
def load(name: str, version: int = 1) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{name}.v{version}.json"
    try:
        schema: dict[str, Any] = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise LookupError(f"no schema {name!r} version {version} ({path})") from None
    return schema


@functools.cache
def validator(name: str, version: int = 1) -> Draft202012Validator:
    schema = load(name, version)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validate(name: str, record: Any, version: int = 1) -> list[str]:
    """Errors of ``record`` against schema ``name`` (empty list: valid)."""
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in validator(name, version).iter_errors(record)
    ]
