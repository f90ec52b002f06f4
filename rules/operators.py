"""The condition operators: one table, each entry says what value it takes and how it compares.

The JSON Schema's operator enum is checked against this table by a test, so the two never drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from escalator.rules.keywords import PhraseMatcher, phrase_regex

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
    """A hashable comparison key: text case-insensitive, `true` never equal to `1`, lists as tuples.

    Help desk data is loose (a custom field may hold a list, a flag may arrive as 1), so a comparison must
    neither crash on an unhashable value nor call `True` equal to `1` the way Python does.
    """
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_norm(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(key), repr(item)) for key, item in value.items()))
    return value


def _is(value: Any) -> Compare:
    expected = _norm(value)
    return lambda actual: _norm(actual) == expected


def _is_not(value: Any) -> Compare:
    expected = _norm(value)
    return lambda actual: _norm(actual) != expected


def _in(value: Sequence[Any]) -> Compare:
    """One value among the list; for a list-valued field (tags, a multi-select field) any of its items."""
    expected = {_norm(item) for item in value}

    def compare(actual: Any) -> bool:
        if isinstance(actual, list | tuple | set | frozenset):
            return any(_norm(item) in expected for item in actual)
        return _norm(actual) in expected

    return compare


def _not_in(value: Sequence[Any]) -> Compare:
    inside = _in(value)
    return lambda actual: not inside(actual)


def _normed_items(actual: Any) -> set[Any]:
    """`{_norm(item) for item in _as_list(actual)}`, with text (tags, segments: most items) folded inline."""
    if actual is None:
        return set()
    if isinstance(actual, list | tuple | set | frozenset):
        return {item.casefold() if type(item) is str else _norm(item) for item in actual}
    return {_norm(actual)}


def _includes(value: Any) -> Compare:
    wanted = {_norm(item) for item in _as_list(value)}
    return lambda actual: not wanted.isdisjoint(_normed_items(actual))


def _excludes(value: Any) -> Compare:
    unwanted = {_norm(item) for item in _as_list(value)}
    return lambda actual: unwanted.isdisjoint(_normed_items(actual))


CONTAINS_ANY_PLURALS = True
"""`contains_any` also matches a phrase's plurals (`outage` -> `outages`), as DESIGN.md §6 asks: a customer
writing "multiple outages today" reports an outage. Only -s/-es/-ies on nouns (rules.keywords): `legal` never
matches `legally` or `illegal`."""


def phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    """The phrases as one regular expression: whole words, any case, variants, flexible spacing and hyphens.

    Search it in `escalator.rules.keywords.normalise`d text; `contains_any` uses the faster `PhraseMatcher`,
    which also knows negation and the compounds that are not keywords (`legal name`).
    """
    return phrase_regex(phrases, plurals=CONTAINS_ANY_PLURALS)


def _contains_any(value: Sequence[str]) -> Compare:
    """Truthy with the admin's own phrase (as written in the rules file) when the text says it.

    Compiled once when the rules load; see `escalator.rules.keywords` for what "says it" means (variants,
    plurals, light words, negation), and why.
    """
    if not value or not all(isinstance(item, str) and item.strip() for item in value):
        raise OperatorValueError("contains_any needs a non-empty list of non-empty phrases")
    matcher = PhraseMatcher(value, plurals=CONTAINS_ANY_PLURALS)

    def compare(actual: Any) -> bool | str:
        # Items of a list (several text fields) are separate lines: a negator never reaches across them.
        return matcher("\n".join(str(item) for item in _as_list(actual))) or False

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


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _scalars(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(_scalar(item) for item in value)


_VALUE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "scalar": (_scalar, "a single value"),
    "list": (_scalars, "a non-empty list of values"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "regex": (lambda v: isinstance(v, str) and len(v) > 0, "a regular expression string"),
    "phrases": (
        lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(item, str) and item.strip() for item in v),
        "a non-empty list of non-empty phrases",
    ),
    "scalar_or_list": (lambda v: (_scalar(v) and v is not None) or _scalars(v), "a value or a list of values"),
    "none": (lambda v: True, "no value"),
}

MISSING: Any = object()
"""Stands for a condition written without a `value` key (which is not the same as `"value": null`)."""


def compile_comparison(operator: str, value: Any = MISSING) -> Compare:
    """Check the value's shape for the operator, then build the comparison; errors say what was expected."""
    spec = OPERATORS[operator]
    check, expected = _VALUE_CHECKS[spec.takes]
    if spec.takes == "none":
        if value is not MISSING:
            raise OperatorValueError(f"operator '{operator}' takes no value (remove 'value')")
        return spec.build(None)
    if value is MISSING:
        raise OperatorValueError(f"operator '{operator}' needs a value: {expected}")
    if not check(value):
        raise OperatorValueError(f"operator '{operator}' takes {expected}, not {json.dumps(value, default=repr)}")
    return spec.build(value)
