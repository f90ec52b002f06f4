"""The condition operators: one table, each entry says what value it takes and how it compares.

The JSON Schema's operator enum is checked against this table by a test, so the two never drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Compare = Callable[[Any], "bool | str"]
"""A compiled comparison: truthy when it holds; `contains_any` returns the matched phrase."""


class OperatorValueError(ValueError):
    """The value given to an operator has the wrong shape (reported with its JSON path at load)."""


@dataclass(frozen=True)
class Operator:
    name: str
    takes: str  # "scalar", "list", "number", "regex", "phrases", "none", "scalar_or_list"
    build: Callable[[Any], Compare]


def _as_list(actual: Any) -> list[Any]:
    if actual is None:
        return []
    if isinstance(actual, list | tuple | set | frozenset):
        return list(actual)
    return [actual]


def _norm(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _is(value: Any) -> Compare:
    expected = _norm(value)
    return lambda actual: _norm(actual) == expected


def _is_not(value: Any) -> Compare:
    expected = _norm(value)
    return lambda actual: _norm(actual) != expected


def _in(value: Sequence[Any]) -> Compare:
    expected = {_norm(item) for item in value}
    return lambda actual: _norm(actual) in expected


def _not_in(value: Sequence[Any]) -> Compare:
    expected = {_norm(item) for item in value}
    return lambda actual: _norm(actual) not in expected


def _includes(value: Any) -> Compare:
    wanted = {_norm(item) for item in _as_list(value)}
    return lambda actual: bool(wanted & {_norm(item) for item in _as_list(actual)})


def _excludes(value: Any) -> Compare:
    unwanted = {_norm(item) for item in _as_list(value)}
    return lambda actual: not unwanted & {_norm(item) for item in _as_list(actual)}


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    """Whole words, case-insensitive, any run of whitespace between words, curly apostrophes as straight."""
    parts = [r"\s+".join(re.escape(word) for word in phrase.translate(_APOSTROPHES).split()) for phrase in phrases]
    return re.compile(r"(?<!\w)(" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _contains_any(value: Sequence[str]) -> Compare:
    if not value or not all(isinstance(item, str) and item.strip() for item in value):
        raise OperatorValueError("contains_any needs a non-empty list of non-empty phrases")
    pattern = phrase_pattern(value)
    canonical = {" ".join(phrase.translate(_APOSTROPHES).split()).casefold(): phrase for phrase in value}

    def compare(actual: Any) -> bool | str:
        text = " ".join(str(item) for item in _as_list(actual)).translate(_APOSTROPHES)
        match = pattern.search(text)
        if match is None:
            return False
        return canonical.get(" ".join(match.group(1).split()).casefold(), match.group(1))

    return compare


def _matches(value: str) -> Compare:
    try:
        pattern = re.compile(value, re.IGNORECASE)
    except re.error as error:
        raise OperatorValueError(f"'{value}' is not a valid regular expression: {error}") from None
    return lambda actual: any(pattern.search(str(item)) for item in _as_list(actual))


def _numeric(test: Callable[[float, float], bool]) -> Callable[[Any], Compare]:
    def build(value: Any) -> Compare:
        threshold = float(value)

        def compare(actual: Any) -> bool:
            try:
                return actual is not None and not isinstance(actual, bool) and test(float(actual), threshold)
            except (TypeError, ValueError):
                return False

        return compare

    return build


def _present(_value: Any) -> Compare:
    return lambda actual: actual not in (None, "", [], ())


def _absent(_value: Any) -> Compare:
    return lambda actual: actual in (None, "", [], ())


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("is", "scalar", _is),
        Operator("is_not", "scalar", _is_not),
        Operator("in", "list", _in),
        Operator("not_in", "list", _not_in),
        Operator("includes", "scalar_or_list", _includes),
        Operator("excludes", "scalar_or_list", _excludes),
        Operator("contains_any", "phrases", _contains_any),
        Operator("matches", "regex", _matches),
        Operator("gt", "number", _numeric(lambda a, b: a > b)),
        Operator("gte", "number", _numeric(lambda a, b: a >= b)),
        Operator("lt", "number", _numeric(lambda a, b: a < b)),
        Operator("lte", "number", _numeric(lambda a, b: a <= b)),
        Operator("present", "none", _present),
        Operator("absent", "none", _absent),
        # `changed` is answered from the event's change set, not the value (see conditions.py).
        Operator("changed", "none", _present),
    )
}

_VALUE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "scalar": (lambda v: v is None or isinstance(v, str | int | float | bool), "a single value"),
    "list": (lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "regex": (lambda v: isinstance(v, str), "a regular expression string"),
    "phrases": (lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list of phrases"),
    "scalar_or_list": (lambda v: isinstance(v, str | int | list), "a value or a list of values"),
    "none": (lambda v: True, "no value"),
}


def compile_comparison(operator: str, value: Any) -> Compare:
    """Check the value's shape for the operator, then build the comparison; errors say what was expected."""
    spec = OPERATORS[operator]
    check, expected = _VALUE_CHECKS[spec.takes]
    if not check(value):
        raise OperatorValueError(f"operator '{operator}' takes {expected}, not {value!r}")
    return spec.build(value)
