"""Durations as admins write them: `45s`, `15m`, `4h`, `2d`, `1h30m`, or ISO 8601 (`PT15M`, `P1DT2H`)."""

from __future__ import annotations

import re

_COMPACT = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


class DurationError(ValueError):
    """A duration string that is neither the compact form nor ISO 8601."""


def parse_duration(text: str) -> float:
    """Return the duration in seconds; zero and empty durations are refused (a zero SLA is a typo)."""
    if not isinstance(text, str):
        raise DurationError(f"{text!r} is not a duration (write it as a string: 45s, 15m, 4h, 2d, 1h30m or PT15M)")
    cleaned = text.strip()
    match = _COMPACT.match(cleaned.lower()) or _ISO.match(cleaned.upper())
    if not cleaned or match is None or not any(match.groupdict().values()):
        raise DurationError(f"'{text}' is not a duration (use 45s, 15m, 4h, 2d, 1h30m or ISO 8601 like PT15M)")
    seconds = sum(float(value) * _UNIT_SECONDS[unit] for unit, value in match.groupdict().items() if value)
    if seconds <= 0:
        raise DurationError(f"'{text}' is zero; a duration must be positive")
    return seconds


def humanize(seconds: float) -> str:
    """`1800` -> `30 minutes`, `5400` -> `1 hour 30 minutes`, `604800` -> `7 days`: timeframes in words."""
    if seconds < 60:
        whole = round(seconds)
        return f"{whole} second{'s' * (whole != 1)}"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24) if hours >= 48 else (0, hours)
    parts = [f"{days} days"] if days else []
    if hours:
        parts.append(f"{hours} hour{'s' * (hours != 1)}")
    if minutes:
        parts.append(f"{minutes} minute{'s' * (minutes != 1)}")
    return " ".join(parts)
