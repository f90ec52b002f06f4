"""Business-calendar math: hand-worked SLA deadlines, DST, holidays, an exhaustive oracle, and load errors."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from escalator.rules.calendar import ALWAYS_OPEN, BusinessCalendar, CalendarError
from escalator.rules.durations import parse_duration

NY = ZoneInfo("America/New_York")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
NINE_TO_FIVE = {day: ["09:00-17:00"] for day in WEEKDAYS}
HOUR = 3600.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def ny(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    us: int = 0,
    fold: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=NY, fold=fold)


def calendar(
    hours: dict[str, list[str]] | None = None, tz: str = "America/New_York", **holidays: Any
) -> BusinessCalendar:
    spec: dict[str, Any] = {"timezone": tz, "hours": NINE_TO_FIVE if hours is None else hours}
    if holidays:
        spec["holidays"] = holidays
    return BusinessCalendar.from_spec("test", spec)


# The shipped policy's "business" calendar.
BUSINESS = calendar(country="US", dates=["2026-12-24"])


# --- the hand-worked cases from the brief -------------------------------------------------------------


def test_friday_afternoon_plus_two_hours_crosses_the_spring_forward_weekend() -> None:
    cal = calendar()
    start = utc(2026, 3, 6, 21, 30)  # Fri 16:30 EST
    due = cal.add(start, parse_duration("2h"))
    assert due == utc(2026, 3, 9, 14, 30)  # Mon 10:30 EDT
    assert due.tzinfo is UTC
    assert cal.between(start, due) == 7200.0


def test_christmas_week_skips_explicit_and_country_holidays() -> None:
    start = utc(2026, 12, 23, 21)  # Wed 16:00 EST
    due = BUSINESS.add(start, 2 * HOUR)
    # Thu 24 is an explicit date, Fri 25 is Christmas, then the weekend.
    assert due == utc(2026, 12, 28, 15)  # Mon 10:00 EST
    assert BUSINESS.between(start, due) == 2 * HOUR


# --- properties ------------------------------------------------------------------------------------------

PROPERTY_CALENDARS = {
    "business": BUSINESS,
    "split-london": calendar(
        {"mon": ["08:30-12:00", "13:00-17:30"], "wed": ["00:00-24:00"], "sat": ["10:00-14:00"]},
        tz="Europe/London",
        country="GB",
        region="SCT",
    ),
    # Intervals over the 01:00-03:00 DST window every day, plus 24:00 handovers into the next day.
    "dst-window": calendar(
        {"sat": ["20:00-24:00"], "sun": ["00:00-00:30", "01:00-03:00", "22:00-24:00"], "mon": ["00:00-02:00"]}
    ),
    "auckland": calendar({day: ["07:00-19:00"] for day in WEEKDAYS}, tz="Pacific/Auckland", country="NZ"),
}


@pytest.mark.parametrize("name", sorted(PROPERTY_CALENDARS))
def test_add_and_between_are_inverse_and_add_is_earliest(name: str) -> None:
    cal = PROPERTY_CALENDARS[name]
    rng = random.Random(20260306)
    base = utc(2025, 1, 1)
    one_us = timedelta(microseconds=1)
    for _ in range(1500):
        start = base + timedelta(seconds=rng.uniform(0, 3 * 365 * 86_400))
        if rng.random() < 0.2:
            start = start.replace(second=0, microsecond=0)  # land on exact opening and closing times too
        seconds = rng.choice([rng.uniform(0, 80 * HOUR), float(rng.randrange(0, 80) * 1800)])
        due = cal.add(start, seconds)
        assert due >= start
        assert due.tzinfo is UTC
        assert cal.between(start, due) == pytest.approx(seconds, abs=1e-6)
        if seconds > 1e-6:
            # Earliest: a microsecond sooner the target has not been reached yet.
            assert cal.between(start, due - one_us) < seconds
            assert cal.is_open(due - one_us)


def test_add_is_monotonic_in_the_duration() -> None:
    rng = random.Random(7)
    start = utc(2026, 11, 20, 18)
    previous = start
    for seconds in sorted(rng.uniform(0, 200 * HOUR) for _ in range(300)):
        due = BUSINESS.add(start, seconds)
        assert due >= previous
        previous = due


def _oracle_between(cal_hours: dict[str, list[str]], closed: set[date], start: datetime, end: datetime) -> float:
    """Minute-by-minute wall-clock membership: slow, but shares no code with the calendar."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    total = 0
    instant = start
    while instant < end:
        local = instant.astimezone(NY)
        minute = local.hour * 60 + local.minute
        if local.date() not in closed:
            for text in cal_hours.get(days[local.weekday()], []):
                lo, hi = (int(part[:2]) * 60 + int(part[3:]) for part in text.split("-"))
                if lo <= minute < hi:
                    total += 60
        instant += timedelta(minutes=1)
    return float(total)


def test_between_matches_a_minute_by_minute_oracle_around_dst_and_holidays() -> None:
    hours = {
        "mon": ["09:00-12:00", "13:00-17:00"],
        "tue": ["09:00-17:00"],
        "wed": ["00:00-24:00"],
        "thu": ["09:00-17:00"],
        "fri": ["09:00-17:00"],
        "sun": ["01:00-03:00", "12:00-13:00"],
    }
    cal = calendar(hours, country="US", dates=["2026-03-10"])
    closed = {date(2026, 3, 10), date(2026, 11, 11), date(2026, 11, 26)}  # explicit, Veterans, Thanksgiving
    rng = random.Random(42)
    anchors = [utc(2026, 3, 6), utc(2026, 10, 30), utc(2026, 11, 24)]
    for _ in range(30):
        start = rng.choice(anchors) + timedelta(minutes=rng.randrange(0, 5 * 1440))
        end = start + timedelta(minutes=rng.randrange(0, 4 * 1440))
        assert cal.between(start, end) == _oracle_between(hours, closed, start, end)


# --- hours within a day ----------------------------------------------------------------------------------


def test_split_intervals_skip_the_lunch_break() -> None:
    cal = calendar({"tue": ["09:00-12:00", "13:00-17:00"]})
    assert cal.add(ny(2026, 6, 2, 11, 30), HOUR) == ny(2026, 6, 2, 13, 30)
    assert cal.add(ny(2026, 6, 2, 11, 30), 0.5 * HOUR) == ny(2026, 6, 2, 12, 0)  # earliest: the close itself
    assert cal.between(ny(2026, 6, 2, 0), ny(2026, 6, 3, 0)) == 7 * HOUR
    assert cal.between(ny(2026, 6, 2, 11), ny(2026, 6, 2, 14)) == 2 * HOUR
    assert cal.is_open(ny(2026, 6, 2, 11, 59, 59))
    assert not cal.is_open(ny(2026, 6, 2, 12))  # intervals are half-open
    assert not cal.is_open(ny(2026, 6, 2, 12, 30))
    assert cal.is_open(ny(2026, 6, 2, 13))


def test_touching_intervals_in_any_order_act_as_one() -> None:
    cal = calendar({"mon": ["12:00-17:00", "09:00-12:00"]})
    assert cal == calendar({"mon": ["09:00-17:00"]})
    assert cal.between(ny(2026, 6, 1, 0), ny(2026, 6, 2, 0)) == 8 * HOUR
    assert cal.add(ny(2026, 6, 1, 11), 2 * HOUR) == ny(2026, 6, 1, 13)


def test_start_inside_and_outside_hours() -> None:
    cal = calendar()
    assert cal.add(ny(2026, 6, 1, 10), HOUR) == ny(2026, 6, 1, 11)  # inside
    assert cal.add(ny(2026, 6, 1, 7), HOUR) == ny(2026, 6, 1, 10)  # before opening
    assert cal.add(ny(2026, 6, 1, 18), HOUR) == ny(2026, 6, 2, 10)  # after closing
    assert cal.add(ny(2026, 6, 1, 17), HOUR) == ny(2026, 6, 2, 10)  # exactly at closing
    assert cal.add(ny(2026, 6, 1, 16), HOUR) == ny(2026, 6, 1, 17)  # ends exactly at closing, not next morning
    assert cal.between(ny(2026, 6, 1, 7), ny(2026, 6, 1, 10)) == HOUR
    assert cal.between(ny(2026, 6, 1, 18), ny(2026, 6, 2, 9, 30)) == 1800.0


def test_zero_and_negative_durations_return_the_start() -> None:
    cal = calendar()
    closed = ny(2026, 6, 6, 12)  # Saturday
    assert cal.add(closed, 0) == closed
    assert cal.add(closed, 0).tzinfo is UTC
    assert cal.add(ny(2026, 6, 1, 10), 0) == ny(2026, 6, 1, 10)
    assert cal.add(closed, -5) == closed


def test_sub_second_durations_and_instants() -> None:
    cal = calendar()
    start = ny(2026, 6, 1, 16, 59, 59, 750_000)
    assert cal.add(start, 0.5) == ny(2026, 6, 2, 9, 0, 0, 250_000)
    assert cal.between(start, ny(2026, 6, 2, 9, 0, 0, 250_000)) == pytest.approx(0.5, abs=1e-9)
    # 1.001 * 1e6 is 1000999.99...; durations round to the nearest microsecond rather than truncate.
    assert cal.add(ny(2026, 6, 1, 10), 1.001) == ny(2026, 6, 1, 10, 0, 1, 1_000)


def test_weekend_start() -> None:
    cal = calendar()
    assert not cal.is_open(ny(2026, 6, 6, 12))
    assert cal.add(ny(2026, 6, 6, 12), 1800) == ny(2026, 6, 8, 9, 30)  # Sat noon -> Mon 09:30
    assert cal.add(ny(2026, 6, 7, 23, 59), 1800) == ny(2026, 6, 8, 9, 30)  # Sun night
    assert cal.between(ny(2026, 6, 5, 17), ny(2026, 6, 8, 9)) == 0.0
    assert cal.between(ny(2026, 6, 6, 0), ny(2026, 6, 13, 0)) == 40 * HOUR  # one full week


def test_between_is_zero_for_empty_or_reversed_ranges() -> None:
    cal = calendar()
    assert cal.between(ny(2026, 6, 1, 12), ny(2026, 6, 1, 12)) == 0.0
    assert cal.between(ny(2026, 6, 1, 12), ny(2026, 6, 1, 10)) == 0.0


def test_other_zones_and_aware_inputs_in_any_zone() -> None:
    cal = calendar()
    paris = datetime(2026, 3, 6, 22, 30, tzinfo=ZoneInfo("Europe/Paris"))  # = 21:30Z, Fri 16:30 EST
    assert cal.add(paris, 2 * HOUR) == utc(2026, 3, 9, 14, 30)
    tokyo = calendar(tz="Asia/Tokyo")
    assert tokyo.add(utc(2026, 6, 5, 8), HOUR) == utc(2026, 6, 8, 1)  # Fri 17:00 JST + 1h -> Mon 10:00 JST


def test_midnight_handover_with_24_00() -> None:
    cal = calendar({"sat": ["20:00-24:00"], "sun": ["00:00-02:00"]})
    assert cal.add(ny(2026, 6, 6, 23), 2 * HOUR) == ny(2026, 6, 7, 1)
    assert cal.between(ny(2026, 6, 6, 0), ny(2026, 6, 8, 0)) == 6 * HOUR
    assert cal.is_open(ny(2026, 6, 7, 0))
    assert not cal.is_open(ny(2026, 6, 7, 2))


def test_missing_days_and_empty_lists_are_days_off() -> None:
    cal = calendar({"mon": ["09:00-17:00"], "tue": []})
    assert cal.add(ny(2026, 6, 1, 16), 2 * HOUR) == ny(2026, 6, 8, 10)


# --- holidays --------------------------------------------------------------------------------------------


def test_explicit_holiday_dates_are_whole_local_days_off() -> None:
    cal = calendar(dates=["2026-06-03"])  # a Wednesday
    assert cal.between(ny(2026, 6, 3, 0), ny(2026, 6, 4, 0)) == 0.0
    assert not cal.is_open(ny(2026, 6, 3, 12))
    assert cal.add(ny(2026, 6, 2, 16), 2 * HOUR) == ny(2026, 6, 4, 10)
    assert calendar().add(ny(2026, 6, 2, 16), 2 * HOUR) == ny(2026, 6, 3, 10)


def test_country_holiday_thanksgiving() -> None:
    us = calendar(country="US")
    assert not us.is_open(ny(2026, 11, 26, 12))
    assert us.between(ny(2026, 11, 26, 0), ny(2026, 11, 27, 0)) == 0.0
    assert us.add(ny(2026, 11, 25, 16), 2 * HOUR) == utc(2026, 11, 27, 15)  # Fri 10:00 EST
    assert calendar().add(ny(2026, 11, 25, 16), 2 * HOUR) == utc(2026, 11, 26, 15)  # no holidays: Thu


def test_observed_holiday_is_a_day_off() -> None:
    us = calendar(country="US")
    assert not us.is_open(ny(2026, 7, 3, 12))  # July 4th is a Saturday, observed on Friday the 3rd


def test_region_holidays() -> None:
    california = calendar(country="US", region="CA")
    federal = calendar(country="US")
    cesar_chavez = ny(2026, 3, 31, 12)
    columbus = ny(2026, 10, 12, 12)
    assert not california.is_open(cesar_chavez)
    assert federal.is_open(cesar_chavez)
    assert california.is_open(columbus)
    assert not federal.is_open(columbus)
    bavaria = calendar(tz="Europe/Berlin", country="DE", region="BY")
    berlin = calendar(tz="Europe/Berlin", country="DE", region="BE")
    epiphany = datetime(2026, 1, 6, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    assert not bavaria.is_open(epiphany)
    assert berlin.is_open(epiphany)


def test_holidays_follow_the_local_date_not_utc() -> None:
    # 2026-12-24 00:30 UTC is still the 23rd (19:30) in New York: open, and not the explicit holiday.
    assert BUSINESS.is_open(utc(2026, 12, 23, 20, 30))
    assert not BUSINESS.is_open(utc(2026, 12, 24, 15))
    tokyo = calendar({"thu": ["00:00-24:00"]}, tz="Asia/Tokyo", dates=["2026-12-24"])
    assert not tokyo.is_open(utc(2026, 12, 23, 16))  # Thu 24 01:00 JST
    # Thu 17th whole, Thu 24th off, and Thu 31st until 09:00 JST (= 00:00Z).
    assert tokyo.between(utc(2026, 12, 16, 0), utc(2026, 12, 31, 0)) == 33 * HOUR


def test_year_end_crossing_with_new_years_day() -> None:
    start = utc(2025, 12, 31, 21)  # Wed 16:00 EST
    due = BUSINESS.add(start, 2 * HOUR)
    assert due == utc(2026, 1, 2, 15)  # Thu Jan 1 is a holiday -> Fri Jan 2 10:00 EST
    assert BUSINESS.between(start, due) == 2 * HOUR
    assert BUSINESS.between(utc(2025, 12, 31, 0), utc(2026, 1, 3, 0)) == 16 * HOUR
    # The next year end, into a weekend: Fri Jan 1 2027 holiday, then Sat/Sun.
    assert BUSINESS.add(utc(2026, 12, 31, 21), 2 * HOUR) == utc(2027, 1, 4, 15)


def test_round_the_clock_calendar_with_a_holiday_spans_midnight_and_years() -> None:
    cal = calendar({day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}, country="US")
    start = ny(2025, 12, 31, 23)
    assert cal.add(start, 2 * HOUR) == ny(2026, 1, 2, 1)
    assert cal.between(start, ny(2026, 1, 2, 1)) == 2 * HOUR


# --- DST -------------------------------------------------------------------------------------------------


def test_spring_forward_interval_over_the_gap_is_one_real_hour() -> None:
    cal = calendar({"sun": ["01:00-03:00"]})
    day = (ny(2026, 3, 8, 0), ny(2026, 3, 9, 0))
    assert cal.between(*day) == HOUR
    assert cal.add(utc(2026, 3, 8, 6), HOUR) == utc(2026, 3, 8, 7)  # 01:00 EST + 1h = 03:00 EDT
    assert cal.add(utc(2026, 3, 8, 6), HOUR + 1) == utc(2026, 3, 15, 5, 0, 1)  # next Sunday, 01:00:01 EDT
    assert cal.is_open(utc(2026, 3, 8, 6, 59, 59))
    assert not cal.is_open(utc(2026, 3, 8, 7))
    assert cal.between(ny(2026, 3, 15, 0), ny(2026, 3, 16, 0)) == 2 * HOUR  # an ordinary Sunday


def test_fall_back_repeated_hour_counts_twice() -> None:
    window = calendar({"sun": ["01:00-03:00"]})
    repeated = calendar({"sun": ["01:00-02:00"]})
    day = (ny(2026, 11, 1, 0), ny(2026, 11, 2, 0))
    assert window.between(*day) == 3 * HOUR  # 01:00 EDT (05:00Z) to 03:00 EST (08:00Z)
    assert repeated.between(*day) == 2 * HOUR  # both 01:00-02:00 hours
    # 01:00 EDT + 1.5h is the second 01:30 (EST); compare in UTC, as == across zones ignores fold=1.
    assert repeated.add(utc(2026, 11, 1, 5), 1.5 * HOUR) == utc(2026, 11, 1, 6, 30)
    assert repeated.is_open(ny(2026, 11, 1, 1, 45, fold=1))  # the second 01:45 is business time too
    assert repeated.between(ny(2026, 11, 8, 0), ny(2026, 11, 9, 0)) == HOUR


def test_interval_ends_inside_the_ambiguous_or_missing_hour_resolve_with_fold_0() -> None:
    # fold=0 picks the first 01:30 on the fall-back day (EDT) and the pre-transition offset in the gap.
    fall = calendar({"sun": ["00:30-01:30"]})
    assert fall.between(ny(2026, 11, 1, 0), ny(2026, 11, 2, 0)) == HOUR  # 04:30Z-05:30Z
    assert not fall.is_open(utc(2026, 11, 1, 6))  # the second 01:00-01:30 is not business time
    spring = calendar({"sun": ["01:30-02:30"]})
    assert spring.between(ny(2026, 3, 8, 0), ny(2026, 3, 9, 0)) == HOUR  # 06:30Z-07:30Z
    assert spring.add(utc(2026, 3, 8, 6), 1800) == utc(2026, 3, 8, 7)


def test_wall_times_in_the_spring_gap_that_resolve_out_of_order_are_merged() -> None:
    # 02:30-02:45 does not exist on 2026-03-08; fold=0 puts it at 07:30Z-07:45Z, inside 03:00-04:00 EDT.
    cal = calendar({"sun": ["02:30-02:45", "03:00-04:00"]})
    assert cal.between(ny(2026, 3, 8, 0), ny(2026, 3, 9, 0)) == HOUR  # 07:00Z-08:00Z once, not 75 minutes
    assert cal.add(utc(2026, 3, 8, 7), HOUR) == utc(2026, 3, 8, 8)
    assert cal.between(ny(2026, 3, 15, 0), ny(2026, 3, 16, 0)) == 1.25 * HOUR  # an ordinary Sunday


def test_a_whole_calendar_day_is_23_or_25_real_hours_on_dst_days() -> None:
    cal = calendar({"sun": ["00:00-24:00"]})
    assert cal.between(ny(2026, 3, 8, 0), ny(2026, 3, 9, 0)) == 23 * HOUR
    assert cal.between(ny(2026, 11, 1, 0), ny(2026, 11, 2, 0)) == 25 * HOUR


# --- 24x7 ------------------------------------------------------------------------------------------------


def test_always_open_is_plain_arithmetic() -> None:
    assert ALWAYS_OPEN.name == "24x7"
    start = ny(2026, 3, 7, 23, 15)  # the DST change is crossed; real time is what counts
    # Aware + timedelta in Python is wall-clock arithmetic; elapsed real time is what the SLA needs.
    assert ALWAYS_OPEN.add(start, 26 * HOUR) == start.astimezone(UTC) + timedelta(hours=26)
    assert ALWAYS_OPEN.add(start, 26 * HOUR) == ny(2026, 3, 9, 2, 15)
    assert ALWAYS_OPEN.add(start, 26 * HOUR).tzinfo is UTC
    assert ALWAYS_OPEN.between(start, start.astimezone(UTC) + timedelta(days=3, seconds=1.5)) == 3 * 86_400 + 1.5
    assert ALWAYS_OPEN.between(start, ny(2026, 3, 10, 23, 15)) == 71 * HOUR  # three wall-clock days, one lost hour
    assert ALWAYS_OPEN.between(start, start - timedelta(hours=1)) == 0.0
    assert ALWAYS_OPEN.is_open(start)


def test_a_spec_written_24x7_calendar_agrees_with_always_open() -> None:
    cal = calendar({day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    rng = random.Random(3)
    for _ in range(200):
        start = utc(2026, 1, 1) + timedelta(seconds=rng.uniform(0, 365 * 86_400))
        seconds = rng.uniform(0, 100 * HOUR)
        assert cal.add(start, seconds) == ALWAYS_OPEN.add(start, seconds)


# --- value semantics -------------------------------------------------------------------------------------


def test_calendars_are_frozen_values() -> None:
    assert calendar(country="US") == calendar(country="US")
    assert calendar(country="US") != calendar()
    assert len({calendar(), calendar()}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        BUSINESS.name = "other"  # type: ignore[misc]


def test_calendars_pickle_and_copy_for_worker_queues() -> None:
    BUSINESS.add(utc(2026, 12, 23, 21), 2 * HOUR)  # fill the day cache first
    for clone in (pickle.loads(pickle.dumps(BUSINESS)), copy.deepcopy(BUSINESS)):
        assert clone == BUSINESS
        assert clone.add(utc(2026, 12, 23, 21), 2 * HOUR) == utc(2026, 12, 28, 15)


def test_instants_beyond_the_datetime_range_are_a_calendar_error() -> None:
    with pytest.raises(CalendarError, match=re.escape("beyond years 1..9999")):
        BUSINESS.add(utc(9999, 12, 20), 100 * HOUR)
    with pytest.raises(CalendarError, match=re.escape("beyond years 1..9999")):
        ALWAYS_OPEN.add(utc(9999, 12, 31, 23), 2 * HOUR)
    with pytest.raises(CalendarError, match=re.escape("beyond years 1..9999")):
        BUSINESS.between(utc(1, 1, 1), utc(1, 1, 10))


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"timezone": "Mars/Olympus", "hours": NINE_TO_FIVE},
            "timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        ({"timezone": "America", "hours": NINE_TO_FIVE}, "timezone: 'America' is not an IANA time zone"),
        ({"hours": NINE_TO_FIVE}, "timezone: None is not an IANA time zone"),
        ({"timezone": "UTC", "hours": {"mon": ["9:00-17"]}}, "hours.mon[0]: '9:00-17' is not HH:MM-HH:MM"),
        ({"timezone": "UTC", "hours": {"tue": ["09:00-17:00", 9]}}, "hours.tue[1]: 9 is not HH:MM-HH:MM"),
        (
            {"timezone": "UTC", "hours": {"wed": ["09:00-25:00"]}},
            "hours.wed[0]: '09:00-25:00' is not a time of day",
        ),
        (
            {"timezone": "UTC", "hours": {"wed": ["09:60-17:00"]}},
            "hours.wed[0]: '09:60-17:00' is not a time of day",
        ),
        (
            {"timezone": "UTC", "hours": {"thu": ["17:00-09:00"]}},
            "hours.thu[0]: '17:00-09:00' ends before it starts",
        ),
        (
            {"timezone": "UTC", "hours": {"thu": ["09:00-09:00"]}},
            "hours.thu[0]: '09:00-09:00' ends before it starts",
        ),
        (
            {"timezone": "UTC", "hours": {"tue": ["09:00-12:00", "11:00-14:00"]}},
            "hours.tue[1]: '11:00-14:00' overlaps '09:00-12:00'",
        ),
        (
            {"timezone": "UTC", "hours": {"fri": ["13:00-17:00", "09:00-13:30"]}},
            "hours.fri[0]: '13:00-17:00' overlaps '09:00-13:30'",
        ),
        ({"timezone": "UTC", "hours": {"mon": "09:00-17:00"}}, "hours.mon: '09:00-17:00' is not a list"),
        ({"timezone": "UTC", "hours": {"monday": ["09:00-17:00"]}}, "hours.monday: unknown key"),
        ({"timezone": "UTC", "hours": {}}, "hours: no business hours on any day"),
        ({"timezone": "UTC", "hours": {"mon": [], "sat": []}}, "hours: no business hours on any day"),
        ({"timezone": "UTC"}, "hours: None is not an object"),
        (
            {"timezone": "UTC", "hours": NINE_TO_FIVE, "holidays": {"country": "XX"}},
            "holidays.country: 'XX' is not a country the holidays package knows",
        ),
        (
            {"timezone": "UTC", "hours": NINE_TO_FIVE, "holidays": {"country": "US", "region": "ZZ"}},
            "holidays.region: 'ZZ' is not a region of US (known: AK, AL,",
        ),
        (
            {"timezone": "UTC", "hours": NINE_TO_FIVE, "holidays": {"region": "CA"}},
            "holidays.region: 'CA' needs holidays.country",
        ),
        (
            {"timezone": "UTC", "hours": NINE_TO_FIVE, "holidays": {"dates": ["2026-12-24", "2026-13-01"]}},
            "holidays.dates[1]: '2026-13-01' is not a YYYY-MM-DD date",
        ),
        (
            {"timezone": "UTC", "hours": NINE_TO_FIVE, "holidays": {"dates": ["24/12/2026"]}},
            "holidays.dates[0]: '24/12/2026' is not a YYYY-MM-DD date",
        ),
        (
            {"timezone": "UTC", "hours": NINE_TO_FIVE, "holidays": {"country": "US", "date": ["2026-12-24"]}},
            "holidays.date: unknown key",
        ),
        ({"timezone": "UTC", "hours": NINE_TO_FIVE, "holiday": {}}, "holiday: unknown key"),
    ],
)
def test_from_spec_errors_name_the_bad_value(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(CalendarError, match="^" + re.escape(message)):
        BusinessCalendar.from_spec("bad", spec)


def test_calendar_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        calendar(tz="Nowhere/Special")


def test_direct_construction_is_validated_too() -> None:
    week = tuple(((9 * 3600, 17 * 3600),) if day < 5 else () for day in range(7))
    assert BusinessCalendar("test", "America/New_York", week) == calendar()
    with pytest.raises(CalendarError, match="no business hours"):
        BusinessCalendar("empty", "UTC", ((),) * 7)
    with pytest.raises(CalendarError, match=re.escape("hours.mon: 17:00-09:00 is out of order or range")):
        BusinessCalendar("backwards", "UTC", (((17 * 3600, 9 * 3600),),) + ((),) * 6)


def test_bad_arguments_are_refused() -> None:
    cal = calendar()
    with pytest.raises(CalendarError, match="start: 2026-06-01T10:00:00 has no time zone"):
        cal.add(datetime(2026, 6, 1, 10), HOUR)
    with pytest.raises(CalendarError, match=r"end: .* has no time zone"):
        cal.between(ny(2026, 6, 1, 10), datetime(2026, 6, 1, 12))
    with pytest.raises(CalendarError, match=r"instant: .* has no time zone"):
        cal.is_open(datetime(2026, 6, 1, 12))
    with pytest.raises(CalendarError, match="seconds: inf is not a finite duration"):
        cal.add(ny(2026, 6, 1, 10), float("inf"))
    with pytest.raises(CalendarError, match="seconds: nan"):
        cal.add(ny(2026, 6, 1, 10), float("nan"))


def test_add_gives_up_instead_of_looping_when_holidays_blanket_every_open_day() -> None:
    mondays = [(date(2026, 6, 1) + timedelta(weeks=week)).isoformat() for week in range(600)]
    cal = calendar({"mon": ["09:00-17:00"]}, dates=mondays)
    assert cal.between(ny(2026, 6, 1), ny(2026, 7, 1)) == 0.0
    with pytest.raises(CalendarError, match="no business hours for 3701 days"):
        cal.add(ny(2026, 6, 1, 10), HOUR)
