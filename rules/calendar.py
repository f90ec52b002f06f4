"""Business calendars: weekly hours in an IANA zone minus holidays, and the SLA math on top of them.

Pure: no network, no Redis. Instants are handled internally as integer microseconds since the Unix epoch,
so `add` and `between` are exact inverses (no float drift across long walks) and the results are
reproducible to the microsecond.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = ["ALWAYS_OPEN", "BusinessCalendar", "CalendarError"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_SECONDS = 86_400
_US_PER_S = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A calendar with hours can only go without business time for a stretch if explicit dates blanket it; past
# this many consecutive closed days `add` gives up instead of walking towards year 9999.
_MAX_CLOSED_DAYS = 3_700
# Cached days per calendar; a day is a few ints, so this bounds memory without ever mattering for speed.
_CACHE_LIMIT = 20_000

# Business intervals of one local date, as sorted, disjoint [start, end) epoch microseconds.
_Spans = tuple[tuple[int, int], ...]
# Weekly hours: seven tuples (Monday first) of sorted, disjoint (start, end) seconds after local midnight.
WeeklyHours = tuple[tuple[tuple[int, int], ...], ...]


class CalendarError(ValueError):
    """A calendar definition (or an argument) that cannot be used; the message names the bad value."""


def _fmt(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _to_us(instant: datetime, what: str) -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CalendarError(f"{what}: {instant.isoformat()} has no time zone; pass an aware datetime")
    return (instant - _EPOCH) // _ONE_US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly business hours in `timezone`, closed on holidays; see `from_spec` for the rules-file form."""

    name: str
    timezone: str
    hours: WeeklyHours
    holiday_country: str | None = None
    holiday_region: str | None = None
    holiday_dates: frozenset[date] = frozenset()

    _tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _holidays: Container[date] | None = field(init=False, repr=False, compare=False)
    # 24x7 with no holidays is continuous time in any zone, so it takes the plain-arithmetic shortcut.
    _always: bool = field(init=False, repr=False, compare=False)
    _days: dict[int, _Spans] = field(init=False, repr=False, compare=False, default_factory=dict)
    # (start in epoch microseconds, seconds) -> `add`'s answer: timers are re-armed after every event from the
    # same anchors and clocks, so most of the walks were ones done already. Keyed by the instant's
    # microseconds, not the datetime: two local times of a DST fall-back hour compare equal as datetimes.
    _added: dict[tuple[int, float], datetime] = field(init=False, repr=False, compare=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, repr=False, compare=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Validated here too (not only in from_spec) so a directly built calendar cannot be malformed.
        try:
            tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise CalendarError(f"timezone: '{self.timezone}' is not an IANA time zone") from exc
        if len(self.hours) != 7:
            raise CalendarError(f"hours: expected 7 days (mon..sun), got {len(self.hours)}")
        for day, spans in zip(DAYS, self.hours, strict=True):
            previous_end = 0
            for start, end in spans:
                if not 0 <= start < end <= _DAY_SECONDS or start < previous_end:
                    raise CalendarError(f"hours.{day}: {_fmt(start)}-{_fmt(end)} is out of order or range")
                previous_end = end
        if not any(self.hours):
            # Without this, add() could never finish.
            raise CalendarError("hours: no business hours on any day")
        object.__setattr__(self, "_tz", tz)
        object.__setattr__(self, "_holidays", _country_holidays(self.holiday_country, self.holiday_region))
        always = (
            all(spans == ((0, _DAY_SECONDS),) for spans in self.hours)
            and self._holidays is None
            and not self.holiday_dates
        )
        object.__setattr__(self, "_always", always)

    def __reduce__(self) -> tuple[type[BusinessCalendar], tuple[Any, ...]]:
        # Rebuild from the public fields: the lock cannot be pickled and the caches are cheap to refill.
        fields = (self.holiday_country, self.holiday_region, self.holiday_dates)
        return (BusinessCalendar, (self.name, self.timezone, self.hours, *fields))

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any]) -> BusinessCalendar:
        """Build from the rules-file object; errors name the offending path relative to the calendar."""
        if not isinstance(spec, Mapping):
            raise CalendarError(f"calendar '{name}' must be an object")
        _reject_unknown("", spec, {"timezone", "hours", "holidays"})
        timezone = spec.get("timezone")
        if not isinstance(timezone, str):
            raise CalendarError(f"timezone: {timezone!r} is not an IANA time zone name")
        hours = _parse_hours(spec.get("hours"))
        country, region, dates = _parse_holidays(spec.get("holidays"))
        return cls(name, timezone, hours, country, region, dates)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The earliest instant t >= start whose business time since `start` reaches `seconds` (UTC)."""
        t = _to_us(start, "start")
        key = (t, seconds)
        found = self._added.get(key)
        if found is not None:
            return found
        if not math.isfinite(seconds):
            raise CalendarError(f"seconds: {seconds} is not a finite duration")
        remaining = round(seconds * _US_PER_S)
        if remaining <= 0:
            return _from_us(t)
        try:
            found = _from_us(t + remaining if self._always else self._add(start, t, remaining))
        except OverflowError:
            raise _out_of_range(start) from None
        if len(self._added) >= _CACHE_LIMIT:
            self._added.clear()
        self._added[key] = found
        return found

    def _add(self, start: datetime, t: int, remaining: int) -> int:
        # Start a day early: where a zone skipped a whole local date (Samoa, 2011-12-30), fold=0 places that
        # date's hours in the next date's real time, so the previous date can hold the start.
        ordinal = start.astimezone(self._tz).toordinal() - 1
        days, cursor, closed = self._days, t, 0
        while True:
            spans = days.get(ordinal)
            if spans is None:
                spans = self._resolve(ordinal)
            for lo, hi in spans:
                # Clipping at the cursor never counts real time twice, even where DST makes days overlap.
                if hi <= cursor:
                    continue
                if lo < cursor:
                    lo = cursor
                if hi - lo >= remaining:
                    return lo + remaining
                remaining -= hi - lo
                cursor = hi
            closed = 0 if spans else closed + 1
            if closed > _MAX_CLOSED_DAYS:
                raise CalendarError(f"calendar '{self.name}': no business hours for {closed} days after {start}")
            ordinal += 1

    def between(self, start: datetime, end: datetime) -> float:
        """Business seconds in [start, end); 0 when end <= start."""
        t0, t1 = _to_us(start, "start"), _to_us(end, "end")
        if t1 <= t0:
            return 0.0
        if self._always:
            return (t1 - t0) / _US_PER_S
        try:
            first = start.astimezone(self._tz).toordinal() - 1
            last = end.astimezone(self._tz).toordinal() + 1
        except OverflowError:
            raise _out_of_range(start if start.year < 5000 else end) from None
        days, cursor, total = self._days, t0, 0
        for ordinal in range(first, last + 1):
            spans = days.get(ordinal)
            if spans is None:
                spans = self._resolve(ordinal)
            for lo, hi in spans:
                # Same clipping as add(), so between(s, add(s, d)) == d holds exactly.
                if lo < cursor:
                    lo = cursor
                if hi > t1:
                    hi = t1
                if hi > lo:
                    total += hi - lo
                    cursor = hi
        return total / _US_PER_S

    def is_open(self, instant: datetime) -> bool:
        """Whether `instant` falls inside business hours (intervals are half-open: 17:00 is closed)."""
        t = _to_us(instant, "instant")
        if self._always:
            return True
        try:
            ordinal = instant.astimezone(self._tz).toordinal()
        except OverflowError:
            raise _out_of_range(instant) from None
        for day in (ordinal - 1, ordinal):
            spans = self._days.get(day)
            if spans is None:
                spans = self._resolve(day)
            if any(lo <= t < hi for lo, hi in spans):
                return True
        return False

    def _resolve(self, ordinal: int) -> _Spans:
        """One local date's business intervals as UTC microseconds, computed once and cached."""
        with self._lock:  # the holidays object expands years lazily and is not thread-safe
            try:
                day = date.fromordinal(ordinal)
                closed = day in self.holiday_dates or (self._holidays is not None and day in self._holidays)
                spans: list[tuple[int, int]] = []
                if not closed:
                    midnight = datetime(day.year, day.month, day.day)
                    for start, end in self.hours[day.weekday()]:
                        # fold=0 for both ends: a spring-forward 01:00-03:00 is one real hour, a fall-back
                        # 01:00-02:00 two; a naive + timedelta lets 24:00 roll over to the next date.
                        lo = (midnight + timedelta(seconds=start)).replace(tzinfo=self._tz)
                        hi = (midnight + timedelta(seconds=end)).replace(tzinfo=self._tz)
                        spans.append(((lo - _EPOCH) // _ONE_US, (hi - _EPOCH) // _ONE_US))
            except (OverflowError, ValueError):
                raise _out_of_range(f"calendar '{self.name}'") from None
            resolved = _merge(spans)
            if len(self._days) >= _CACHE_LIMIT:
                self._days.clear()
            self._days[ordinal] = resolved
            return resolved


def _out_of_range(what: object) -> CalendarError:
    return CalendarError(f"{what}: business time beyond years 1..9999 cannot be represented")


def _merge(spans: list[tuple[int, int]]) -> _Spans:
    """Sort, drop empty and union overlapping spans; a wall time in a DST gap can resolve out of order."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if hi <= lo:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _reject_unknown(path: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
    for key in spec:
        if key not in allowed:
            raise CalendarError(f"{path}{key}: unknown key (expected one of {', '.join(sorted(allowed))})")


def _parse_hours(raw: object) -> WeeklyHours:
    if not isinstance(raw, Mapping):
        raise CalendarError(f"hours: {raw!r} is not an object of day -> list of 'HH:MM-HH:MM'")
    _reject_unknown("hours.", raw, set(DAYS))
    week: list[tuple[tuple[int, int], ...]] = []
    for day in DAYS:
        entries = raw.get(day, [])
        if not isinstance(entries, list):
            raise CalendarError(f"hours.{day}: {entries!r} is not a list of 'HH:MM-HH:MM'")
        parsed: list[tuple[int, int, int, str]] = []
        for index, text in enumerate(entries):
            path = f"hours.{day}[{index}]"
            match = _INTERVAL.match(text.strip()) if isinstance(text, str) else None
            if match is None:
                raise CalendarError(f"{path}: {text!r} is not HH:MM-HH:MM")
            h1, m1, h2, m2 = (int(part) for part in match.groups())
            if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
                raise CalendarError(f"{path}: {text!r} is not a time of day (00:00 to 24:00)")
            start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
            if end <= start:
                raise CalendarError(
                    f"{path}: {text!r} ends before it starts (split overnight hours across two days, "
                    "e.g. mon 22:00-24:00 and tue 00:00-06:00)"
                )
            parsed.append((start, end, index, text))
        parsed.sort()
        for (_, prev_end, _, prev_text), (start, _, index, text) in pairwise(parsed):
            if start < prev_end:
                raise CalendarError(f"hours.{day}[{index}]: {text!r} overlaps {prev_text!r}")
        spans: list[tuple[int, int]] = []
        for start, end, _, _ in parsed:
            # Touching intervals (09:00-12:00, 12:00-17:00) are simply one longer interval.
            if spans and spans[-1][1] == start:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        week.append(tuple(spans))
    if not any(week):
        raise CalendarError("hours: no business hours on any day (a calendar must be open some time)")
    return tuple(week)


def _parse_holidays(raw: object) -> tuple[str | None, str | None, frozenset[date]]:
    if raw is None:
        return None, None, frozenset()
    if not isinstance(raw, Mapping):
        raise CalendarError(f"holidays: {raw!r} is not an object")
    _reject_unknown("holidays.", raw, {"country", "region", "dates"})
    country, region = raw.get("country"), raw.get("region")
    if country is not None and not isinstance(country, str):
        raise CalendarError(f"holidays.country: {country!r} is not a country code")
    if region is not None and not isinstance(region, str):
        raise CalendarError(f"holidays.region: {region!r} is not a region code")
    if region is not None and country is None:
        raise CalendarError(f"holidays.region: '{region}' needs holidays.country")
    entries = raw.get("dates", [])
    if not isinstance(entries, list):
        raise CalendarError(f"holidays.dates: {entries!r} is not a list of YYYY-MM-DD dates")
    dates: set[date] = set()
    for index, text in enumerate(entries):
        try:
            if not isinstance(text, str) or not _ISO_DATE.match(text):
                raise ValueError(text)
            dates.add(date.fromisoformat(text))
        except ValueError:
            raise CalendarError(f"holidays.dates[{index}]: {text!r} is not a YYYY-MM-DD date") from None
    return country, region, frozenset(dates)


def _country_holidays(country: str | None, region: str | None) -> Container[date] | None:
    """Build the holidays object once; the package fills in each year the first time it is asked about it."""
    if country is None:
        if region is not None:
            raise CalendarError(f"holidays.region: '{region}' needs holidays.country")
        return None
    try:
        entity = holidays.country_holidays(country)
    except NotImplementedError:
        raise CalendarError(
            f"holidays.country: '{country}' is not a country the holidays package knows "
            "(use an ISO 3166-1 alpha-2 code such as 'US')"
        ) from None
    if region is None:
        return entity
    try:
        return holidays.country_holidays(country, subdiv=region)
    except NotImplementedError:
        known = ", ".join(entity.subdivisions) or "none"
        raise CalendarError(f"holidays.region: '{region}' is not a region of {country} (known: {known})") from None


# No calendar means 24x7: add() is plain addition and between() the plain difference.
ALWAYS_OPEN = BusinessCalendar("24x7", "UTC", tuple(((0, _DAY_SECONDS),) for _ in DAYS))
