"""Routing rules: which queue a case goes to, by language, category, channel and entity.

YAML (see ``config/routing.example.yaml``)::

    default_queue: general
    rules:
      - queue: billing-de
        when: {language: [de], category: [billing]}
      - queue: social-vip
        when: {channel: [twitter, instagram], entity: [ProductX]}

Rules are tried in order; the first whose every condition matches wins. A condition
matches when the case has at least one of the listed values (case-insensitive).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, load_yaml

__all__ = ["CONDITIONS", "Routing", "Rule", "load_routing"]

CONDITIONS = ("language", "category", "channel", "entity")


@dataclass(frozen=True, slots=True)
class Rule:
    queue: str
    when: dict[str, frozenset[str]]

    def matches(self, facts: dict[str, set[str]]) -> bool:
        return all(facts.get(name, set()) & values for name, values in self.when.items())


@dataclass(frozen=True, slots=True)
class Routing:
    default_queue: str = "general"
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def queue(
        self,
        *,
        languages: Iterable[str],
        categories: Iterable[str],
        channels: Iterable[str],
        entities: Iterable[str],
    ) -> str:
        facts = {
            "language": {v.lower() for v in languages},
            "category": {v.lower() for v in categories},
            "channel": {v.lower() for v in channels},
            "entity": {v.lower() for v in entities},
        }
        for rule in self.rules:
            if rule.matches(facts):
                return rule.queue
        return self.default_queue


def parse_routing(data: Any, file: str | Path = "<routing>") -> Routing:
    """Validate a parsed YAML document; errors name the key path."""
    if data is None:
        return Routing()
    if not isinstance(data, dict):
        raise ConfigError(file, "<root>", "a mapping with default_queue and rules", data)
    unknown = set(data) - {"default_queue", "rules"}
    if unknown:
        raise ConfigError(
            file, sorted(unknown)[0], "only default_queue and rules", data[sorted(unknown)[0]]
        )
    default = data.get("default_queue", "general")
    if not isinstance(default, str) or not default:
        raise ConfigError(file, "default_queue", "a non-empty string", default)
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise ConfigError(file, "rules", "a list of rules", raw_rules)
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        where = f"rules[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(file, where, "a mapping with queue and when", raw)
        queue = raw.get("queue")
        if not isinstance(queue, str) or not queue:
            raise ConfigError(file, f"{where}.queue", "a non-empty string", queue)
        when = raw.get("when")
        if not isinstance(when, dict) or not when:
            raise ConfigError(file, f"{where}.when", f"a mapping of {', '.join(CONDITIONS)}", when)
        conditions: dict[str, frozenset[str]] = {}
        for name, values in when.items():
            if name not in CONDITIONS:
                raise ConfigError(
                    file, f"{where}.when.{name}", f"one of {', '.join(CONDITIONS)}", name
                )
            if isinstance(values, str):
                values = [values]
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) and v for v in values)
            ):
                raise ConfigError(
                    file, f"{where}.when.{name}", "a non-empty list of strings", values
                )
            conditions[name] = frozenset(v.lower() for v in values)
        rules.append(Rule(queue=queue, when=conditions))
    return Routing(default_queue=default, rules=tuple(rules))


def load_routing(path: str | Path | None) -> Routing:
    """Routing from a YAML file; ``None`` gives the default (everything to ``general``)."""
    if path is None:
        return Routing()
    return parse_routing(load_yaml(path), path)
