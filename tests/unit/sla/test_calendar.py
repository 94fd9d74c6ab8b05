"""Business calendars: DST both ways, overnight periods, holidays, several periods, 24/7."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import ConfigError
from pipeline.sla.calendar import ALWAYS, Calendar, parse_ical_holidays, parse_period

BERLIN = ZoneInfo("Europe/Berlin")


def cal(
    days: dict[int, list[str]], holidays: tuple[date, ...] = (), zone: ZoneInfo = BERLIN
) -> Calendar:
    weekly = tuple(tuple(parse_period(p) for p in days.get(i, [])) for i in range(7))
    return Calendar("test", zone, weekly, frozenset(holidays))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


DAILY_NIGHT = cal({i: ["00:00-06:00"] for i in range(7)})


def test_always_open_adds_wall_time() -> None:
    start = utc(2026, 3, 29, 0, 30)
    assert ALWAYS.add(start, 3600) == utc(2026, 3, 29, 1, 30)
    assert ALWAYS.elapsed(start, utc(2026, 3, 30, 0, 30)) == 86400


def test_spring_forward_night_is_one_hour_shorter() -> None:
    # 29 March 2026: Berlin clocks jump 02:00 -> 03:00.
    day = date(2026, 3, 29)
    assert DAILY_NIGHT.elapsed(local(2026, 3, 29, 0, 0), local(2026, 3, 29, 12, 0)) == 5 * 3600
    assert DAILY_NIGHT.add(local(2026, 3, 29, 0, 0), 3 * 3600) == local(2026, 3, 29, 4, 0)
    assert DAILY_NIGHT.elapsed(local(2026, 3, 28, 0, 0), local(2026, 3, 28, 12, 0)) == 6 * 3600
    assert day.weekday() == 6


def test_fall_back_night_is_one_hour_longer() -> None:
    # 25 October 2026: Berlin clocks go 03:00 -> 02:00.
    assert DAILY_NIGHT.elapsed(local(2026, 10, 25, 0, 0), local(2026, 10, 25, 12, 0)) == 7 * 3600
    # 4 business hours after midnight is 03:00 local *after* the repeated hour: 02:00 UTC.
    assert DAILY_NIGHT.add(local(2026, 10, 25, 0, 0), 4 * 3600) == utc(2026, 10, 25, 2, 0)


def test_office_hours_across_dst_keep_local_opening_time() -> None:
    office = cal({i: ["08:00-20:00"] for i in range(5)})
    # Friday 19:00 CET (before spring DST), 2 h target -> Monday 09:00 CEST (07:00 UTC).
    assert office.add(local(2026, 3, 27, 19, 0), 7200) == utc(2026, 3, 30, 7, 0)
    # Friday 19:30 CEST before fall-back -> Monday 09:30 CET (08:30 UTC).
    assert office.add(local(2026, 10, 23, 19, 30), 7200) == utc(2026, 10, 26, 8, 30)


def test_period_over_midnight() -> None:
    night = cal({4: ["22:00-06:00"]})  # Friday night into Saturday
    start = local(2026, 11, 20, 21, 0)  # Friday 21:00
    assert night.add(start, 3600) == local(2026, 11, 20, 23, 0)
    assert night.add(start, 8 * 3600) == local(2026, 11, 21, 6, 0)
    # One second more: next Friday 22:00:01.
    assert night.add(start, 8 * 3600 + 1) == local(2026, 11, 27, 22, 0, 1)
    assert night.is_open(local(2026, 11, 21, 3, 0))
    assert not night.is_open(local(2026, 11, 21, 7, 0))


def test_overnight_and_morning_periods_merge() -> None:
    shifts = cal({i: ["20:00-24:00", "00:00-08:00"] for i in range(7)})
    spans = shifts.intervals(local(2026, 11, 23, 21, 0))
    first = next(spans)
    assert first == (local(2026, 11, 23, 21, 0), local(2026, 11, 24, 8, 0))


def test_several_periods_a_day() -> None:
    split = cal({i: ["09:00-12:00", "13:00-17:00"] for i in range(7)})
    start = local(2026, 11, 23, 11, 0)
    assert split.add(start, 2 * 3600) == local(2026, 11, 23, 14, 0)
    assert split.elapsed(start, local(2026, 11, 24, 10, 0)) == (1 + 4 + 1) * 3600


def test_holidays_close_the_day() -> None:
    office = cal({i: ["08:00-20:00"] for i in range(5)}, holidays=(date(2026, 12, 25),))
    # Thursday 24 Dec 19:00 + 2 h -> 25th is a holiday, 26/27 weekend -> Monday 28th 09:00.
    assert office.add(local(2026, 12, 24, 19, 0), 7200) == local(2026, 12, 28, 9, 0)


def test_closed_for_ever_is_an_error() -> None:
    holidays = tuple(date(2026, 1, 1) + timedelta(days=i) for i in range(800))
    never = cal({0: ["08:00-09:00"]}, holidays=holidays)
    with pytest.raises(ValueError, match="closed"):
        never.add(local(2026, 1, 1, 0, 0), 60)


def test_period_parse_errors() -> None:
    for bad in ("8-20", "25:00-26:00", "08:00-08:00", "08:61-09:00", "08:00-24:30"):
        with pytest.raises(ValueError, match=r"."):
            parse_period(bad)
    assert str(parse_period("22:00-24:00")) == "22:00-24:00"


def test_ical_holidays(tmp_path: Path) -> None:
    ics = tmp_path / "h.ics"
    ics.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:Christmas\r\nDTSTART;VALUE=DATE:20261225\r\n"
        "DTEND;VALUE=DATE:20261227\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nSUMMARY:New year\r\nDTSTART;VALUE=DATE:20250101\r\n"
        "RRULE:FREQ=YEARLY\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    found = parse_ical_holidays(ics, years=range(2025, 2028))
    assert {date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1), date(2025, 1, 1)} <= found
    assert date(2026, 12, 27) not in found


def test_ical_unsupported_rule_names_line(tmp_path: Path) -> None:
    ics = tmp_path / "h.ics"
    ics.write_text(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\n"
        "RRULE:FREQ=WEEKLY\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    with pytest.raises(ConfigError, match=r"h\.ics: line 4: expected RRULE:FREQ=YEARLY"):
        parse_ical_holidays(ics)


OFFICE = cal({0: ["08:00-12:00", "13:00-18:00"], 2: ["22:00-06:00"], 5: ["10:00-14:00"]})


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    seconds=st.floats(min_value=0, max_value=40 * 3600),
)
def test_add_and_elapsed_agree(start: datetime, seconds: float) -> None:
    end = OFFICE.add(start, seconds)
    assert end >= start
    assert OFFICE.elapsed(start, end) == pytest.approx(seconds, abs=1e-3)
