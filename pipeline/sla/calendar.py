"""Business calendars: when the SLA clock runs.

A calendar is either 24/7 (the default: customers expect answers evenings and weekends too)
or a set of opening periods per weekday in a time zone, minus holidays. A period whose end is
not after its start spans midnight (``22:00-06:00`` runs into the next morning); ``24:00`` is
the end of the day. A holiday closes the periods that *start* on that local date.

Business time is measured in real elapsed seconds while the calendar is open: a period
``00:00-06:00`` in Europe/Berlin lasts 5 h on the night clocks go forward and 7 h on the night
they go back. Local times that do not exist (the skipped hour) resolve to the same instant
as the time after the gap; repeated local times resolve to their first occurrence.

All arguments and results are timezone-aware datetimes; results are in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.config import ConfigError

__all__ = ["ALWAYS", "Calendar", "Period", "load_zone", "parse_ical_holidays", "parse_period"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: A calendar with opening hours must open at least once in this many days (guards loops).
MAX_CLOSED_DAYS = 400
_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class Period:
    """Opening hours within one local day; ``end <= start`` means the period ends next day.

    ``end`` of ``None`` means 24:00 (midnight at the end of the day).
    """

    start: time
    end: time | None

    @property
    def overnight(self) -> bool:
        return self.end is not None and self.end <= self.start

    def __str__(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"


def parse_period(text: str) -> Period:
    """``"08:00-20:00"``, ``"22:00-06:00"`` (over midnight), ``"00:00-24:00"``.

    Raises ``ValueError`` with a short reason.
    """
    match = _PERIOD.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError("a period like '08:00-20:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError("hours 00-23 (or 24:00 as an end) and minutes 00-59")
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end == start:
        raise ValueError("a period with different start and end (use '00:00-24:00' for all day)")
    return Period(start, end)


def load_zone(name: str) -> ZoneInfo:
    """A zoneinfo time zone; raises ``ValueError`` for unknown names."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _local(day: date, at: time | None, zone: tzinfo) -> datetime:
    """The UTC instant of local ``day`` ``at`` (``None``: 24:00) in ``zone``."""
    if at is None:
        return _local(day + timedelta(days=1), time(0), zone)
    # fold=0: a repeated local time is its first occurrence; a skipped one maps forward
    # (zoneinfo uses the offset before the gap, which lands after it once in UTC).
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Calendar:
    """When the SLA clock runs. ``weekly is None`` means 24/7 (time zone irrelevant).

    ``weekly[i]`` are the periods of weekday ``i`` (0 = Monday), ``holidays`` local dates.
    """

    name: str = "24x7"
    zone: tzinfo = UTC
    weekly: tuple[tuple[Period, ...], ...] | None = None
    holidays: frozenset[date] = field(default_factory=frozenset)
    # Per-day UTC intervals; a plain dict (lru_cache would hash the whole calendar each call).
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    @property
    def always_open(self) -> bool:
        return self.weekly is None

    def __post_init__(self) -> None:
        if self.weekly is not None:
            if len(self.weekly) != 7:
                raise ValueError("weekly needs 7 entries (Monday first)")
            if not any(self.weekly):
                raise ValueError("a calendar needs at least one opening period a week")

    # -- open intervals ---------------------------------------------------------------

    def _day_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """UTC intervals of the periods that start on local ``day`` (empty on holidays)."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        if len(self._days) > 8192:
            self._days.clear()
        spans = self._compute_day(day)
        self._days[day] = spans
        return spans

    def _compute_day(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        assert self.weekly is not None
        if day in self.holidays:
            return ()
        out = []
        for period in self.weekly[day.weekday()]:
            start = _local(day, period.start, self.zone)
            end_day = day + timedelta(days=1) if period.overnight else day
            end = _local(end_day, period.end, self.zone)
            if end > start:
                out.append((start, end))
        return tuple(sorted(out))

    def intervals(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC, merged, ascending) that end after ``since``, clipped to it.

        Infinite for a 24/7 calendar (one interval); raises ``ValueError`` if the calendar
        stays closed for more than ``MAX_CLOSED_DAYS`` days (e.g. a year of holidays).
        """
        since = _aware(since)
        if self.weekly is None:
            yield since, datetime.max.replace(tzinfo=UTC)
            return
        # Overnight periods from the previous local day can still be open at ``since``.
        day = since.astimezone(self.zone).date() - timedelta(days=1)
        pending: tuple[datetime, datetime] | None = None
        closed_days = 0
        while True:
            spans = self._day_intervals(day)
            closed_days = 0 if spans else closed_days + 1
            if closed_days > MAX_CLOSED_DAYS:
                raise ValueError(
                    f"calendar {self.name!r} is closed for over {MAX_CLOSED_DAYS} days"
                )
            for start, end in spans:
                if end <= since:
                    continue
                start = max(start, since)
                if pending is None:
                    pending = (start, end)
                elif start <= pending[1]:
                    pending = (pending[0], max(pending[1], end))
                else:
                    yield pending
                    pending = (start, end)
            day += timedelta(days=1)
            # Nothing from later days can start before this day's first instant.
            if pending is not None and pending[1] < _local(day, time(0), self.zone):
                yield pending
                pending = None

    def is_open(self, at: datetime) -> bool:
        at = _aware(at)
        start, _ = next(self.intervals(at))
        return start <= at

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of business time have passed since ``start`` (UTC)."""
        start = _aware(start)
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        if self.weekly is None:
            return start + timedelta(seconds=seconds)
        remaining = seconds
        for lo, hi in self.intervals(start):
            span = (hi - lo).total_seconds()
            if remaining <= span:
                return lo + timedelta(seconds=remaining)
            remaining -= span
        raise AssertionError("unreachable: intervals() is infinite or raises")

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Business seconds between ``start`` and ``end`` (0 if ``end <= start``)."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return 0.0
        if self.weekly is None:
            return (end - start).total_seconds()
        total = 0.0
        for lo, hi in self.intervals(start):
            if lo >= end:
                break
            total += (min(hi, end) - lo).total_seconds()
        return total

    def describe(self) -> str:
        if self.weekly is None:
            return "24/7"
        days = ", ".join(
            f"{WEEKDAYS[i]} {' '.join(str(p) for p in periods)}"
            for i, periods in enumerate(self.weekly)
            if periods
        )
        return f"{days} ({self.zone}); {len(self.holidays)} holidays"


ALWAYS = Calendar()


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: time zone unknown")
    return value.astimezone(UTC)


# -- iCal holidays --------------------------------------------------------------------


def _unfold(text: str) -> list[tuple[int, str]]:
    """RFC 5545 content lines with their 1-based line numbers, folding undone."""
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] = (lines[-1][0], lines[-1][1] + raw[1:])
        elif raw.strip():
            lines.append((number, raw.rstrip("\r")))
    return lines


def _ical_date(value: str) -> date:
    digits = value.strip()[:8]
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


def parse_ical_holidays(path: str | Path, years: Iterable[int] | None = None) -> frozenset[date]:
    """Holiday dates from an iCalendar file (all-day ``VEVENT``s).

    Supports ``DTSTART``/``DTEND`` (exclusive) as dates or date-times (the date part counts),
    ``DURATION`` is not needed for all-day events, and ``RRULE:FREQ=YEARLY`` (optionally with
    ``COUNT`` or ``UNTIL``), expanded over ``years`` (default: 10 years around today).
    Anything else that would change the set of dates raises :class:`ConfigError`.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, "", f"a readable iCalendar file ({exc.strerror or exc})") from None
    if "BEGIN:VCALENDAR" not in text:
        raise ConfigError(file, "", "an iCalendar file starting with BEGIN:VCALENDAR")
    span = (
        list(years)
        if years is not None
        else list(range(date.today().year - 5, date.today().year + 6))
    )
    found: set[date] = set()
    event: dict[str, tuple[int, str]] | None = None
    for number, line in _unfold(text):
        name_part, _, value = line.partition(":")
        name = name_part.split(";", 1)[0].upper()
        if name == "BEGIN" and value.strip().upper() == "VEVENT":
            event = {}
        elif name == "END" and value.strip().upper() == "VEVENT":
            if event is not None:
                found |= _expand_event(file, event, span)
            event = None
        elif event is not None and name in ("DTSTART", "DTEND", "RRULE", "SUMMARY"):
            event[name] = (number, value)
    return frozenset(found)


def _expand_event(file: Path, event: dict[str, tuple[int, str]], years: list[int]) -> set[date]:
    if "DTSTART" not in event:
        raise ConfigError(file, "VEVENT", "a DTSTART line in every event")
    line, raw_start = event["DTSTART"]
    try:
        first = _ical_date(raw_start)
        last = _ical_date(event["DTEND"][1]) - timedelta(days=1) if "DTEND" in event else first
    except (ValueError, IndexError):
        raise ConfigError(
            file, f"line {line}", "DTSTART/DTEND dates like 20261225", raw_start
        ) from None
    length = max((last - first).days, 0)
    starts = [first]
    if "RRULE" in event:
        rule_line, rule = event["RRULE"]
        parts = dict(p.split("=", 1) for p in rule.strip().split(";") if "=" in p)
        if parts.get("FREQ", "").upper() != "YEARLY" or set(parts) - {"FREQ", "COUNT", "UNTIL"}:
            raise ConfigError(
                file, f"line {rule_line}", "RRULE:FREQ=YEARLY (with COUNT or UNTIL)", rule
            )
        count = int(parts["COUNT"]) if "COUNT" in parts else None
        until = _ical_date(parts["UNTIL"]) if "UNTIL" in parts else None
        starts = []
        for year in range(first.year, max(years, default=first.year) + 1):
            if count is not None and len(starts) >= count:
                break
            try:
                candidate = first.replace(year=year)
            except ValueError:  # 29 February
                continue
            if until is not None and candidate > until:
                break
            starts.append(candidate)
    return {start + timedelta(days=i) for start in starts for i in range(length + 1)}
