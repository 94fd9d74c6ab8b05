"""Backward-compatibility check between two versions of one JSON Schema.

A consumer written against ``old`` must still read every record valid under ``new``.
Breaking (needs a new version): a property removed, a property's type changed or
narrowed, a new required property, an enum losing values, a const changed.
Compatible: new optional properties, enum values added, descriptions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["breaking_changes"]


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """Human-readable list of incompatible differences (empty: compatible)."""
    problems: list[str] = []
    where = path or "<root>"
    old_types, new_types = _types(old), _types(new)
    if old_types is not None and new_types is not None and not old_types <= new_types:
        problems.append(f"{where}: type {sorted(old_types)} changed to {sorted(new_types)}")
    if "const" in old and old.get("const") != new.get("const"):
        problems.append(f"{where}: const {old['const']!r} changed to {new.get('const')!r}")
    if "enum" in old:
        lost = [v for v in old["enum"] if v not in new.get("enum", old["enum"])]
        if lost:
            problems.append(f"{where}: enum values removed: {lost}")
    added_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(added_required):
        problems.append(f"{where}: property {name!r} became required")
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_prop in old_props.items():
        child = f"{path}/{name}" if path else name
        if name not in new_props:
            problems.append(f"{child}: property removed")
            continue
        if isinstance(old_prop, dict) and isinstance(new_props[name], dict):
            problems.extend(breaking_changes(old_prop, new_props[name], child))
    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        problems.extend(breaking_changes(old_items, new_items, f"{path}[]"))
    return problems
