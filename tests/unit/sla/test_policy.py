"""Policy files: lookup by priority x channel x queue, defaults, and errors naming file/key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError
from pipeline.sla.policy import PolicySet, load_policies, parse_duration

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "config" / "sla.example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.yaml"
    path.write_text(text)
    return path


def test_example_file_loads() -> None:
    policies = load_policies(EXAMPLE)
    assert policies.calendars["office"].describe().startswith("mon 08:00-12:30 13:00-20:00")
    assert len(policies.policies) == 4


def test_builtin_defaults() -> None:
    policies = PolicySet()
    targets = {
        p: policies.lookup(p, "twitter", None).first_response for p in ("P1", "P2", "P3", "P4")
    }
    assert targets == {"P1": 900, "P2": 3600, "P3": 14400, "P4": 86400}
    assert policies.lookup("P1", None, None).stages == (0.5, 0.8)
    assert policies.lookup(None, None, None).name == "default-P3"


def test_most_specific_match_wins() -> None:
    policies = load_policies(EXAMPLE)
    assert policies.lookup("P1", "twitter", "social").name == "p1-twitter"
    assert policies.lookup("P1", "facebook", "social").name == "p1-any"
    assert policies.lookup("P2", "email", None).name == "p2-email-office"
    assert policies.lookup("P2", "EMAIL", None).name == "p2-email-office"
    assert policies.lookup("P3", "email", "billing").name == "billing-queue"
    assert policies.lookup("P4", "reddit", "social").name == "default-P4"
    p1 = policies.lookup("P1", "twitter", None)
    assert (p1.first_response, p1.next_response, p1.stages) == (600, 1200, (0.5, 0.75, 0.9))
    assert policies.lookup("P1", "facebook", None).resolution == 8 * 3600


def test_ties_go_to_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "policies:\n"
        "  - {name: a, match: {channel: x}, first_response: 1m}\n"
        "  - {name: b, match: {queue: q}, first_response: 2m}\n",
    )
    assert load_policies(path).lookup("P2", "x", "q").name == "a"


def test_policy_without_target_uses_priority_default(tmp_path: Path) -> None:
    path = write(
        tmp_path, "policies:\n  - {name: a, match: {priority: P2, channel: x}, calendar: 24x7}\n"
    )
    assert load_policies(path).lookup("P2", "x", None).first_response == 3600


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (
            "policies:\n  - {name: a, first_response: soon}\n",
            "policies[0].first_response",
            "duration",
        ),
        (
            "policies:\n  - {name: a, match: {priority: P9}, first_response: 1m}\n",
            "policies[0].match.priority",
            "P1, P2, P3, P4",
        ),
        (
            "policies:\n  - {name: a, match: {colour: red}, first_response: 1m}\n",
            "policies[0].match.colour",
            "priority, channel, queue",
        ),
        (
            "policies:\n  - {name: a, calendar: nope, first_response: 1m}\n",
            "policies[0].calendar",
            "the name of a calendar",
        ),
        ("policies:\n  - {name: a}\n", "policies[0].first_response", "required"),
        (
            "policies:\n  - {name: a, first_response: 1m}\n  - {name: a, first_response: 1m}\n",
            "policies[1].name",
            "not used",
        ),
        ("defaults: {stages: ['120%']}\n", "defaults.stages[0]", "between 0% and 100%"),
        (
            "calendars: {c: {timezone: Mars/Olympus, hours: {mon: ['08:00-10:00']}}}\n",
            "calendars.c.timezone",
            "IANA time zone",
        ),
        (
            "calendars: {c: {timezone: UTC, hours: {mon: ['8-10']}}}\n",
            "calendars.c.hours.mon[0]",
            "period like",
        ),
        (
            "calendars: {c: {timezone: UTC, hours: {someday: ['08:00-10:00']}}}\n",
            "calendars.c.hours.someday",
            "weekdays",
        ),
        (
            "calendars: {c: {timezone: UTC, hours: {mon: []}}}\n",
            "calendars.c.hours",
            "at least one",
        ),
        (
            "calendars: {c: {timezone: UTC, hours: {mon: ['08:00-10:00']}, holidays: ['25.12.']}}\n",
            "calendars.c.holidays[0]",
            "a date like",
        ),
        (
            "calendars: {c: {timezone: UTC, hours: {mon: ['08:00-10:00']}, holidays_ical: x.ics}}\n",
            "calendars.c.holidays_ical",
            "an existing file",
        ),
        ("surprise: 1\n", "surprise", "one of calendars"),
        ("- 1\n", "<root>", "a mapping"),
    ],
)
def test_errors_name_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_policies(path)
    assert info.value.file == str(path)
    assert info.value.key == key
    assert expected in info.value.expected


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="an existing file"):
        load_policies("/nonexistent/sla.yaml")


def test_durations() -> None:
    assert parse_duration("15m") == 900
    assert parse_duration("1d 2h") == 93600
    assert parse_duration("90s") == 90
    assert parse_duration("4 h") == 14400
    assert parse_duration(30) == 30
    for bad in ("", "soon", "0m", -5, True, "m"):
        with pytest.raises(ValueError, match="a duration"):
            parse_duration(bad)
