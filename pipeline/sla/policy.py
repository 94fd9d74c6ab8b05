"""SLA policies (YAML): response targets by priority x channel x queue, calendars, stages.

Example (see ``config/sla.example.yaml``)::

    calendars:
      office:
        timezone: Europe/Berlin
        hours: {mon-fri: ["08:00-20:00"], sat: ["10:00-14:00", "15:00-18:00"]}
        holidays: ["2026-12-25", "2026-12-26"]
        holidays_ical: holidays.ics        # relative to this file
    defaults:
      calendar: 24x7
      stages: ["50%", "80%"]
      pause_while_waiting_on_customer: true
    policies:
      - name: twitter-p1
        match: {priority: P1, channel: twitter}
        first_response: 15m
        next_response: 30m
        resolution: 8h

Lookup: the matching policy with the most specific ``match`` (number of non-wildcard fields)
wins; ties go to the one written first. Without a match the built-in defaults apply: first
response P1 15 min, P2 60 min, P3 4 h, P4 24 h, next response the same, 24/7, stages 50% and
80%. Every error names the file, the key path and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, load_yaml
from pipeline.sla.calendar import (
    ALWAYS,
    WEEKDAYS,
    Calendar,
    Period,
    load_zone,
    parse_ical_holidays,
    parse_period,
)
from pipeline.sla.spikes import SpikeConfig, parse_spike_config

__all__ = [
    "DEFAULT_FIRST_RESPONSE",
    "DEFAULT_STAGES",
    "PRIORITIES",
    "Policy",
    "PolicySet",
    "load_policies",
    "parse_duration",
]

PRIORITIES = ("P1", "P2", "P3", "P4")
#: Built-in first-response targets in seconds.
DEFAULT_FIRST_RESPONSE: dict[str, float] = {"P1": 900.0, "P2": 3600.0, "P3": 14400.0, "P4": 86400.0}
DEFAULT_STAGES: tuple[float, ...] = (0.5, 0.8)
_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*"
    r"(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$"
)
_MATCH_KEYS = ("priority", "channel", "queue")
_POLICY_KEYS = {
    "name",
    "match",
    "first_response",
    "next_response",
    "resolution",
    "calendar",
    "stages",
    "pause_while_waiting_on_customer",
}


def parse_duration(value: Any) -> float:
    """``"15m"``, ``"4h"``, ``"1d 2h"``, ``"90s"`` or a number of seconds -> seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and (m := _DURATION.match(value)):
        d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        if not any(m.groups()):
            raise ValueError("a duration")
        seconds = d * 86400 + h * 3600 + mi * 60 + s
    else:
        raise ValueError("a duration")
    if seconds <= 0:
        raise ValueError("a duration")
    return seconds


@dataclass(frozen=True, slots=True)
class Policy:
    """Targets in business seconds of ``calendar``; ``stages`` are warning fractions (0, 1)."""

    name: str
    first_response: float
    next_response: float
    resolution: float | None = None
    calendar: Calendar = ALWAYS
    stages: tuple[float, ...] = DEFAULT_STAGES
    pause_while_waiting_on_customer: bool = False
    match: tuple[tuple[str, str], ...] = ()

    def target(self, clock: str) -> float | None:
        """Target seconds of clock kind ``first_response|next_response|resolution``."""
        if clock == "first_response":
            return self.first_response
        if clock == "next_response":
            return self.next_response
        if clock == "resolution":
            return self.resolution
        raise KeyError(clock)

    def matches(self, priority: str, channel: str, queue: str) -> bool:
        wanted = {"priority": priority, "channel": channel, "queue": queue}
        return all(wanted[k].lower() == v.lower() for k, v in self.match)


@dataclass(frozen=True)
class PolicySet:
    """Policies in file order plus the defaults; :meth:`lookup` never fails."""

    policies: tuple[Policy, ...] = ()
    calendars: Mapping[str, Calendar] = field(default_factory=dict)
    default_calendar: Calendar = ALWAYS
    default_stages: tuple[float, ...] = DEFAULT_STAGES
    default_pause: bool = False
    source: str = "<built-in>"
    spikes: SpikeConfig = field(default_factory=SpikeConfig)

    def lookup(self, priority: str | None, channel: str | None, queue: str | None) -> Policy:
        """The most specific matching policy (ties: first in file), else the default."""
        prio = priority if priority in PRIORITIES else "P3"
        best: Policy | None = None
        for policy in self.policies:
            if policy.matches(prio, channel or "", queue or "") and (
                best is None or len(policy.match) > len(best.match)
            ):
                best = policy
        return best if best is not None else self.default(prio)

    def default(self, priority: str) -> Policy:
        target = DEFAULT_FIRST_RESPONSE.get(priority, DEFAULT_FIRST_RESPONSE["P3"])
        return Policy(
            name=f"default-{priority}",
            first_response=target,
            next_response=target,
            calendar=self.default_calendar,
            stages=self.default_stages,
            pause_while_waiting_on_customer=self.default_pause,
        )

    def by_name(self, name: str) -> Policy | None:
        for policy in self.policies:
            if policy.name == name:
                return policy
        for priority in PRIORITIES:
            if name == f"default-{priority}":
                return self.default(priority)
        return None


# -- loading ----------------------------------------------------------------------------


def load_policies(path: str | Path) -> PolicySet:
    """Load and validate a policy file; raises :class:`ConfigError` naming file and key."""
    file = Path(path)
    data = load_yaml(file)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, "<root>", "a mapping with calendars, defaults, policies", data)
    unknown = set(data) - {"calendars", "defaults", "policies", "spikes"}
    if unknown:
        raise ConfigError(file, sorted(unknown)[0], "one of calendars, defaults, policies, spikes")

    calendars: dict[str, Calendar] = {"24x7": ALWAYS}
    raw_calendars = data.get("calendars") or {}
    if not isinstance(raw_calendars, dict):
        raise ConfigError(
            file, "calendars", "a mapping of calendar name to definition", raw_calendars
        )
    for name, spec in raw_calendars.items():
        calendars[str(name)] = _calendar(file, f"calendars.{name}", str(name), spec)

    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(file, "defaults", "a mapping", defaults)
    bad = set(defaults) - {"calendar", "stages", "pause_while_waiting_on_customer"}
    if bad:
        raise ConfigError(
            file,
            f"defaults.{sorted(bad)[0]}",
            "one of calendar, stages, pause_while_waiting_on_customer",
        )
    default_calendar = _calendar_ref(
        file, "defaults.calendar", defaults.get("calendar", "24x7"), calendars
    )
    default_stages = _stages(file, "defaults.stages", defaults.get("stages", list(DEFAULT_STAGES)))
    default_pause = _bool(
        file,
        "defaults.pause_while_waiting_on_customer",
        defaults.get("pause_while_waiting_on_customer", False),
    )

    raw_policies = data.get("policies") or []
    if not isinstance(raw_policies, list):
        raise ConfigError(file, "policies", "a list of policies", raw_policies)
    policies: list[Policy] = []
    names: set[str] = set()
    for index, spec in enumerate(raw_policies):
        key = f"policies[{index}]"
        if not isinstance(spec, dict):
            raise ConfigError(file, key, "a mapping with name, match, first_response", spec)
        extra = set(spec) - _POLICY_KEYS
        if extra:
            raise ConfigError(
                file, f"{key}.{sorted(extra)[0]}", f"one of {', '.join(sorted(_POLICY_KEYS))}"
            )
        name = spec.get("name", f"policy-{index}")
        if not isinstance(name, str) or not name:
            raise ConfigError(file, f"{key}.name", "a non-empty string", name)
        if name in names:
            raise ConfigError(file, f"{key}.name", "a name not used by another policy", name)
        names.add(name)
        match = _match(file, f"{key}.match", spec.get("match") or {})
        prio = dict(match).get("priority")
        if "first_response" in spec:
            first = _duration(file, f"{key}.first_response", spec["first_response"])
        elif prio is not None:
            first = DEFAULT_FIRST_RESPONSE[prio]
        else:
            raise ConfigError(
                file,
                f"{key}.first_response",
                "a duration like '15m' (required when match has no priority)",
            )
        nxt = (
            _duration(file, f"{key}.next_response", spec["next_response"])
            if "next_response" in spec
            else first
        )
        resolution = (
            _duration(file, f"{key}.resolution", spec["resolution"])
            if spec.get("resolution") is not None
            else None
        )
        policies.append(
            Policy(
                name=name,
                first_response=first,
                next_response=nxt,
                resolution=resolution,
                calendar=_calendar_ref(file, f"{key}.calendar", spec["calendar"], calendars)
                if "calendar" in spec
                else default_calendar,
                stages=_stages(file, f"{key}.stages", spec["stages"])
                if "stages" in spec
                else default_stages,
                pause_while_waiting_on_customer=_bool(
                    file,
                    f"{key}.pause_while_waiting_on_customer",
                    spec.get("pause_while_waiting_on_customer", default_pause),
                ),
                match=match,
            )
        )
    return PolicySet(
        policies=tuple(policies),
        calendars=calendars,
        default_calendar=default_calendar,
        default_stages=default_stages,
        default_pause=default_pause,
        source=str(file),
        spikes=parse_spike_config(str(file), data.get("spikes")),
    )


def _duration(file: Path, key: str, value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        raise ConfigError(
            file, key, "a positive duration like '15m', '4h', '1d 2h' or seconds", value
        ) from None


def _bool(file: Path, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(file, key, "true or false", value)
    return value


def _stages(file: Path, key: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise ConfigError(file, key, "a list of fractions like ['50%', '80%'] or [0.5, 0.8]", value)
    out: list[float] = []
    for i, item in enumerate(value):
        try:
            if isinstance(item, str) and item.strip().endswith("%"):
                fraction = float(item.strip()[:-1]) / 100
            elif isinstance(item, int | float) and not isinstance(item, bool):
                fraction = float(item)
            else:
                raise ValueError
        except ValueError:
            raise ConfigError(
                file, f"{key}[{i}]", "a percentage like '80%' or a fraction", item
            ) from None
        if not 0 < fraction < 1:
            raise ConfigError(file, f"{key}[{i}]", "a stage strictly between 0% and 100%", item)
        out.append(fraction)
    if len(set(out)) != len(out):
        raise ConfigError(file, key, "distinct stages", value)
    return tuple(sorted(out))


def _match(file: Path, key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ConfigError(file, key, "a mapping with priority, channel and/or queue", value)
    out: list[tuple[str, str]] = []
    for field_name, wanted in value.items():
        if field_name not in _MATCH_KEYS:
            raise ConfigError(file, f"{key}.{field_name}", "one of priority, channel, queue")
        if wanted is None or wanted == "*":
            continue
        if not isinstance(wanted, str):
            raise ConfigError(file, f"{key}.{field_name}", "a string or '*'", wanted)
        if field_name == "priority" and wanted not in PRIORITIES:
            raise ConfigError(file, f"{key}.priority", "one of P1, P2, P3, P4 or '*'", wanted)
        out.append((field_name, wanted))
    return tuple(out)


def _calendar_ref(file: Path, key: str, value: Any, calendars: Mapping[str, Calendar]) -> Calendar:
    if not isinstance(value, str) or value not in calendars:
        raise ConfigError(
            file, key, f"the name of a calendar ({', '.join(sorted(calendars))})", value
        )
    return calendars[value]


def _days(file: Path, key: str, text: str) -> list[int]:
    """``mon``, ``mon-fri``, ``sat,sun``, ``daily`` -> weekday numbers."""
    label = text.strip().lower()
    if label in ("daily", "all", "every day"):
        return list(range(7))
    days: list[int] = []
    for part in label.split(","):
        part = part.strip()
        lo, _, hi = part.partition("-")
        if lo not in WEEKDAYS or (hi and hi not in WEEKDAYS):
            raise ConfigError(file, key, "weekdays like mon, mon-fri, sat,sun or daily", text)
        a, b = WEEKDAYS.index(lo), WEEKDAYS.index(hi or lo)
        days.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return days


def _calendar(file: Path, key: str, name: str, spec: Any) -> Calendar:
    if name == "24x7":
        raise ConfigError(file, key, "another name: 24x7 is the built-in always-open calendar")
    if not isinstance(spec, dict):
        raise ConfigError(file, key, "a mapping with timezone, hours, holidays", spec)
    extra = set(spec) - {"timezone", "hours", "holidays", "holidays_ical"}
    if extra:
        raise ConfigError(
            file, f"{key}.{sorted(extra)[0]}", "one of timezone, hours, holidays, holidays_ical"
        )
    zone_name = spec.get("timezone")
    if not isinstance(zone_name, str):
        raise ConfigError(
            file, f"{key}.timezone", "an IANA time zone like 'Europe/Berlin'", zone_name
        )
    try:
        zone = load_zone(zone_name)
    except ValueError:
        raise ConfigError(
            file, f"{key}.timezone", "an IANA time zone like 'Europe/Berlin'", zone_name
        ) from None
    hours = spec.get("hours")
    if not isinstance(hours, dict) or not hours:
        raise ConfigError(
            file,
            f"{key}.hours",
            "a mapping of weekdays to periods like mon-fri: ['08:00-20:00']",
            hours,
        )
    weekly: list[list[Period]] = [[] for _ in range(7)]
    for days_label, periods in hours.items():
        hkey = f"{key}.hours.{days_label}"
        days = _days(file, hkey, str(days_label))
        if isinstance(periods, str):
            periods = [periods]
        if periods is None:
            periods = []
        if not isinstance(periods, list):
            raise ConfigError(
                file, hkey, "a list of periods like ['08:00-12:00', '13:00-18:00']", periods
            )
        for i, text in enumerate(periods):
            try:
                period = parse_period(text)
            except ValueError as exc:
                raise ConfigError(file, f"{hkey}[{i}]", str(exc), text) from None
            for day in days:
                weekly[day].append(period)
    if not any(weekly):
        raise ConfigError(file, f"{key}.hours", "at least one opening period a week", hours)
    holidays: set[date] = set()
    raw_holidays = spec.get("holidays") or []
    if not isinstance(raw_holidays, list):
        raise ConfigError(
            file, f"{key}.holidays", "a list of dates like '2026-12-25'", raw_holidays
        )
    for i, item in enumerate(raw_holidays):
        if isinstance(item, date):
            holidays.add(item)
            continue
        try:
            holidays.add(date.fromisoformat(str(item)))
        except ValueError:
            raise ConfigError(
                file, f"{key}.holidays[{i}]", "a date like '2026-12-25'", item
            ) from None
    if spec.get("holidays_ical") is not None:
        ical = spec["holidays_ical"]
        if not isinstance(ical, str):
            raise ConfigError(file, f"{key}.holidays_ical", "a path to an .ics file", ical)
        ical_path = Path(ical) if Path(ical).is_absolute() else file.parent / ical
        if not ical_path.exists():
            raise ConfigError(file, f"{key}.holidays_ical", f"an existing file ({ical_path})", ical)
        holidays |= parse_ical_holidays(ical_path)
    sorted_weekly = tuple(tuple(sorted(set(day), key=lambda p: p.start)) for day in weekly)
    return Calendar(name=name, zone=zone, weekly=sorted_weekly, holidays=frozenset(holidays))
