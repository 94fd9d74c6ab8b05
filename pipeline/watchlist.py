"""The watch list: which brands, products, staff and competitors to listen for (YAML).

Minimal form::

    entities:
      - name: Deutsche Bahn
        kind: brand
        aliases: ["Deutsche Bahn", "DB", "Bahn"]
        handles: {twitter: ["DB_Bahn", "DB_Info"]}

Optional per entity: ``exclude`` (phrases whose presence anywhere in the post rules the
match out, e.g. "London Underground"), ``exclude_words`` (whole words the alias must not
be part of, e.g. "Autobahn"; compounds are already excluded by word boundaries unless the
alias allows them), ``compounds`` (bool, default true for aliases of 4+ letters: German
compounds that *start* with the alias match, "Bahnchaos", "Bahnhof"), ``require``
(context words one of which must appear for ambiguous aliases: "Apple" with
"iphone"/"mac"), ``case_sensitive`` (aliases like "DB" or "EE" that are only names in
capitals; default true for aliases of up to 3 characters). All errors are
:class:`pipeline.config.ConfigError` naming the file and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, load_yaml

__all__ = ["KINDS", "Entity", "WatchList", "load_watchlist", "parse_watchlist"]

KINDS = ("brand", "product", "person", "competitor")
_ENTITY_KEYS = {
    "name",
    "kind",
    "aliases",
    "handles",
    "exclude",
    "exclude_words",
    "require",
    "compounds",
    "case_sensitive",
    "parent",
}


@dataclass(frozen=True, slots=True)
class Entity:
    """One watched entity. ``handles``: network -> lower-cased handles/ids without ``@``."""

    name: str
    kind: str
    aliases: tuple[str, ...]
    handles: dict[str, frozenset[str]] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    exclude_words: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    compounds: bool | None = None
    case_sensitive: bool | None = None
    parent: str | None = None

    @property
    def competitor(self) -> bool:
        return self.kind == "competitor"


@dataclass(frozen=True, slots=True)
class WatchList:
    entities: tuple[Entity, ...]
    source: str = "<memory>"

    def brand_handles(self) -> dict[str, frozenset[str]]:
        """Network -> lower-cased handles/ids of the brand's own accounts (kind ``brand``)."""
        return self._handles(("brand",))

    def own_handles(self) -> dict[str, frozenset[str]]:
        """Network -> handles of every non-competitor entity (brand, product, person)."""
        return self._handles(("brand", "product", "person"))

    def _handles(self, kinds: tuple[str, ...]) -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = {}
        for e in self.entities:
            if e.kind in kinds:
                for network, handles in e.handles.items():
                    out.setdefault(network, set()).update(handles)
        return {k: frozenset(v) for k, v in out.items()}

    def by_name(self, name: str) -> Entity | None:
        return next((e for e in self.entities if e.name == name), None)


def load_watchlist(path: str | Path) -> WatchList:
    """Load and validate a watch list YAML file."""
    return parse_watchlist(load_yaml(path), path)


def _strings(file: str | Path, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(file, key, "a list of non-empty strings", value)
    return tuple(v.strip() for v in value)


def _opt_bool(file: str | Path, key: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(file, key, "true or false", value)


def parse_watchlist(data: Any, file: str | Path = "<watchlist>") -> WatchList:
    """Validate an already parsed YAML document (see module docstring for the shape)."""
    if not isinstance(data, dict) or "entities" not in data:
        raise ConfigError(file, "entities", "a mapping with an 'entities' list", data)
    raw = data["entities"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(file, "entities", "a non-empty list of entities", raw)
    entities: list[Entity] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"entities[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(file, where, "a mapping with name, kind, aliases", item)
        unknown = sorted(set(item) - _ENTITY_KEYS)
        if unknown:
            raise ConfigError(
                file, f"{where}.{unknown[0]}", f"one of {sorted(_ENTITY_KEYS)}", unknown[0]
            )
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(file, f"{where}.name", "a non-empty string", name)
        name = name.strip()
        if name in seen:
            raise ConfigError(file, f"{where}.name", "a name not used by another entity", name)
        seen.add(name)
        kind = item.get("kind", "brand")
        if kind not in KINDS:
            raise ConfigError(file, f"{where}.kind", f"one of {', '.join(KINDS)}", kind)
        aliases = _strings(file, f"{where}.aliases", item.get("aliases"))
        if name not in aliases:
            aliases = (name, *aliases)
        handles_raw = item.get("handles") or {}
        if not isinstance(handles_raw, dict):
            raise ConfigError(
                file, f"{where}.handles", "a mapping network -> list of handles", handles_raw
            )
        handles: dict[str, frozenset[str]] = {}
        for network, hs in handles_raw.items():
            values = _strings(file, f"{where}.handles.{network}", hs)
            handles[str(network).lower()] = frozenset(h.lstrip("@").lower() for h in values)
        parent = item.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise ConfigError(file, f"{where}.parent", "the name of another entity", parent)
        entities.append(
            Entity(
                name=name,
                kind=kind,
                aliases=aliases,
                handles=handles,
                exclude=_strings(file, f"{where}.exclude", item.get("exclude")),
                exclude_words=_strings(file, f"{where}.exclude_words", item.get("exclude_words")),
                require=_strings(file, f"{where}.require", item.get("require")),
                compounds=_opt_bool(file, f"{where}.compounds", item.get("compounds")),
                case_sensitive=_opt_bool(
                    file, f"{where}.case_sensitive", item.get("case_sensitive")
                ),
                parent=parent,
            )
        )
    names = {e.name for e in entities}
    for i, e in enumerate(entities):
        if e.parent is not None and e.parent not in names:
            raise ConfigError(file, f"entities[{i}].parent", "the name of another entity", e.parent)
    return WatchList(entities=tuple(entities), source=str(file))
