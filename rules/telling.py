"""Instants told to people: in their language and time zone, as Babel words them.

`when` is what every message shows (`Monday, March 9, 2026, 10:30 AM (Eastern Time)`). A `Reader` is one
language and zone, keeping what it has told: deadlines fall on a few dozen dates and a few thousand minutes
of the day, and a ticket's messages repeat them, while Babel's formatting was a fifth of a message's
rendering. A `Moment` is an instant a template may show, worked out and worded only if it does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone_name

DEFAULT_LOCALE = "en_US"


@lru_cache(maxsize=256)
def babel_locale(code: str | None) -> Locale:
    """The reader's locale, one instance per code: a Locale caches its own data, so a fresh one per message
    reloaded it every time (a third of the cost of formatting a deadline)."""
    try:
        return Locale.parse((code or DEFAULT_LOCALE).replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALE)


def zone_of(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def when(instant: datetime | None, locale: Locale, zone: ZoneInfo) -> str:
    """`Monday, March 9, 2026, 10:30 AM (Eastern Time)`, in the reader's language and time zone."""
    return reader(locale, zone).when(instant)


_TIME_OF_DAY_LETTERS = frozenset("hHkKmsSaAbB")
"""CLDR pattern letters whose output depends on the time of day alone (not the date or the zone)."""
_SECOND_LETTERS = frozenset("sSAbB")
"""Letters that read the seconds too: seconds, fractions, milliseconds in the day, and the day periods
(`noon` is 12:00:00 exactly)."""


def _pattern_reads(locale: Locale) -> bool | None:
    """For the locale's short time pattern: None when it reads more than the time of day, else whether it
    shows seconds (or finer)."""
    pattern = re.sub(r"'[^']*'", "", str(locale.time_formats["short"].pattern))
    letters = {letter for letter in pattern if letter.isascii() and letter.isalpha()}
    if not letters <= _TIME_OF_DAY_LETTERS:
        return None
    return bool(letters & _SECOND_LETTERS)


def _zone_name(zone: ZoneInfo, locale: Locale) -> str:
    """The zone's generic name (`Eastern Time`): without an instant, Babel's answer depends on nothing else."""
    utc = str(zone.key) in ("UTC", "Etc/UTC", "Etc/GMT", "GMT")
    return "UTC" if utc else get_timezone_name(zone, width="long", locale=locale, uncommon=False)


_KEPT = 512
"""Texts a reader keeps per kind: a ticket's messages repeat its few deadlines, on a few dozen dates."""


class Reader:
    """Whom a time is told to: their language and time zone, with what was told them so far. Babel's
    formatting was a fifth of a message's rendering; deadlines fall on a few dozen dates and a few thousand
    minutes of the day, and a ticket's messages repeat them, so the dates, the times of day (to the minute when
    the locale's pattern shows no seconds; all of CLDR's read the time of day alone) and whole texts are kept."""

    __slots__ = ("_dates", "_seconds", "_times", "_told", "_zone_name", "locale", "zone")

    def __init__(self, locale: Locale, zone: ZoneInfo) -> None:
        self.locale, self.zone = locale, zone
        self._seconds = _pattern_reads(locale)
        self._zone_name: str | None = None
        self._told: dict[datetime, str] = {}
        self._dates: dict[date, str] = {}
        self._times: dict[tuple[int, ...], str] = {}

    def when(self, instant: datetime | None) -> str:
        if instant is None:
            return ""
        # Kept by the UTC instant: in a zone with DST, the two local times of a fall-back hour compare equal.
        key = instant if instant.tzinfo is UTC else instant.astimezone(UTC)
        text = self._told.get(key)
        if text is None:
            local = instant.astimezone(self.zone)
            if self._zone_name is None:
                self._zone_name = _zone_name(self.zone, self.locale)
            text = _keep(self._told, key, f"{self._date(local)}, {self._time(local)} ({self._zone_name})")
        return text

    def _date(self, local: datetime) -> str:
        day = local.date()
        text = self._dates.get(day)
        if text is None:
            text = _keep(self._dates, day, format_date(day, "full", locale=self.locale))
        return text

    def _time(self, local: datetime) -> str:
        """`10:30 AM`: Babel's short time."""
        if self._seconds is None:
            return format_time(local, "short", locale=self.locale)
        key = (
            (local.hour, local.minute, local.second, local.microsecond) if self._seconds else (local.hour, local.minute)
        )
        text = self._times.get(key)
        if text is None:
            text = _keep(self._times, key, format_time(local, "short", locale=self.locale))
        return text


def _keep(kept: dict[Any, str], key: Any, text: str) -> str:
    if len(kept) >= _KEPT:
        kept.clear()
    kept[key] = text
    return text


@lru_cache(maxsize=256)
def reader(locale: Locale, zone: ZoneInfo) -> Reader:
    return Reader(locale, zone)


class Moment:
    """An instant as a template shows it (`when`), worked out and formatted only if the template uses it: a
    message has a dozen deadlines on offer and uses one or two, and working each out (a walk of the business
    calendar, the progress triggers' conditions) and Babel's formatting were a fifth of a message. `instant`
    is the instant or a function giving it, called at most once, while the template renders (right after the
    context is made, so it sees the ticket as the context does). Empty and false when there is no instant,
    like the "" it stands for."""

    __slots__ = ("_find", "_instant", "_text", "reader")

    def __init__(self, instant: datetime | Callable[[], datetime | None] | None, reader: Reader) -> None:
        self.reader = reader
        self._find = instant if callable(instant) else None
        self._instant = None if callable(instant) else instant
        self._text: str | None = None

    @property
    def instant(self) -> datetime | None:
        if self._find is not None:
            self._instant, self._find = self._find(), None
        return self._instant

    def __bool__(self) -> bool:
        return self.instant is not None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self.reader.when(self.instant)
        return self._text

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))
