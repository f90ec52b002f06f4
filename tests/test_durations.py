"""Durations as admins write them, compact or ISO 8601; anything else (or zero) is refused with the text."""

from __future__ import annotations

import pytest

from escalator.rules.durations import DurationError, parse_duration

MINUTE, HOUR, DAY = 60, 3_600, 86_400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("15m", 15 * MINUTE),
        ("4h", 4 * HOUR),
        ("2d", 2 * DAY),
        ("1h30m", HOUR + 30 * MINUTE),
        ("1d2h3m4s", DAY + 2 * HOUR + 3 * MINUTE + 4),
        ("90m", 90 * MINUTE),
        ("4H", 4 * HOUR),
        (" 15m ", 15 * MINUTE),
        ("PT15M", 15 * MINUTE),
        ("P1DT2H", DAY + 2 * HOUR),
        ("PT1H30M", HOUR + 30 * MINUTE),
        ("P2D", 2 * DAY),
        ("P1W", 7 * DAY),
        ("PT0.5S", 0.5),
        ("pt15m", 15 * MINUTE),
    ],
)
def test_accepted_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "   ", "15", "m", "15 m", "1.5h", "-5m", "30m1h", "15min", "1h 30m", "P", "PT", "P1H", "T15M", "1w", "abc"],
)
def test_malformed_strings_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert f"'{text}' is not a duration" in str(caught.value)


@pytest.mark.parametrize("text", ["0s", "0m", "0h0m", "PT0S", "P0D", "PT0M"])
def test_zero_is_refused(text: str) -> None:
    with pytest.raises(DurationError, match="zero; a duration must be positive"):
        parse_duration(text)


def test_a_non_string_is_a_duration_error_not_a_crash() -> None:
    with pytest.raises(DurationError, match="write it as a string"):
        parse_duration(15)  # type: ignore[arg-type]


def test_duration_error_is_a_value_error() -> None:
    # Callers (the CLI's `due`) catch ValueError-family errors for a clear message.
    assert issubclass(DurationError, ValueError)
