"""Compile condition trees (`all` / `any` / `not` / leaf) into predicates over Facts, checking names at load."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from escalator.rules.errors import RuleProblem, child, suggest
from escalator.rules.facts import Facts, Getter, known_field_names, resolve_field
from escalator.rules.operators import MISSING, OPERATORS, Compare, OperatorValueError, compile_comparison

Predicate = Callable[[Facts], bool]

_GROUPS = ("all", "any")


def always(_facts: Facts) -> bool:
    return True


def compile_condition(node: Any, path: str, problems: list[RuleProblem]) -> Predicate:
    """Build the predicate; problems are appended (with paths) rather than raised so all are reported.

    The node may be malformed when the file also failed the schema (those problems are already reported):
    what cannot be read is skipped, so the rest of the file still gets checked in the same pass.
    """
    if not isinstance(node, Mapping):
        return always
    for group in _GROUPS:
        if group in node:
            items = node[group] if isinstance(node[group], list) else []
            parts = tuple(
                compile_condition(item, child(child(path, group), i), problems) for i, item in enumerate(items)
            )
            return _all_of(parts) if group == "all" else _any_of(parts)
    if "not" in node:
        inner = compile_condition(node["not"], child(path, "not"), problems)
        return lambda facts: not inner(facts)
    return _compile_leaf(node, path, problems)


# Plain loops rather than all()/any() over a generator: a replay evaluates conditions a million times, and the
# generator's set-up was a third of each. Same order, same short-circuit.
def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    def all_of(facts: Facts) -> bool:
        for part in parts:  # noqa: SIM110 (see above)
            if not part(facts):
                return False
        return True

    return all_of


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    def any_of(facts: Facts) -> bool:
        for part in parts:  # noqa: SIM110 (see above)
            if part(facts):
                return True
        return False

    return any_of


def fields_used(node: Any) -> Iterator[str]:
    """Every field name a condition tree reads (to refuse, e.g., a segment defined by segments)."""
    if not isinstance(node, Mapping):
        return
    for group in _GROUPS:
        for item in node.get(group, ()) if isinstance(node.get(group), list) else ():
            yield from fields_used(item)
    if "not" in node:
        yield from fields_used(node["not"])
    if isinstance(node.get("field"), str):
        yield node["field"]


def leaves(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every leaf (`{"field", "operator", "value"}`) of a condition tree."""
    if not isinstance(node, Mapping):
        return
    for group in _GROUPS:
        for item in node.get(group, ()) if isinstance(node.get(group), list) else ():
            yield from leaves(item)
    if "not" in node:
        yield from leaves(node["not"])
    if isinstance(node.get("field"), str):
        yield node


def _compile_leaf(node: Mapping[str, Any], path: str, problems: list[RuleProblem]) -> Predicate:
    name, operator = node.get("field"), node.get("operator")
    getter = resolve_field(name) if isinstance(name, str) else None
    if isinstance(name, str) and getter is None:
        problems.append(
            RuleProblem(child(path, "field"), f"unknown field '{name}'{suggest(name, known_field_names())}")
        )
    known_operator = isinstance(operator, str) and operator in OPERATORS
    if isinstance(operator, str) and not known_operator:
        problems.append(
            RuleProblem(child(path, "operator"), f"unknown operator '{operator}'{suggest(operator, OPERATORS)}")
        )
    if not known_operator:
        return always
    assert isinstance(operator, str)
    try:
        compare = compile_comparison(operator, node.get("value", MISSING))
    except OperatorValueError as error:
        problems.append(RuleProblem(child(path, "value") if "value" in node else path, str(error)))
        return always
    if getter is None or not isinstance(name, str):
        return always
    if operator == "changed":
        change_key = name.removeprefix("changes.")
        return lambda facts: change_key in facts.event.changes

    key = _leaf_key(name, operator, node.get("value"))
    if OPERATORS[operator].takes != "phrases":
        return _plain_leaf(key, compare, getter)  # only a phrase comparison answers with text

    def leaf(facts: Facts) -> bool:
        memo = facts.memo
        if memo is None:
            outcome = compare(getter(facts))
        else:
            outcome = memo.get(key, _UNKNOWN)
            if outcome is _UNKNOWN:
                outcome = memo[key] = compare(getter(facts))
        if isinstance(outcome, str):
            facts.matched.append(outcome)  # the phrase that matched, for templates and handoff notes
        return bool(outcome)

    return leaf


_LEAF_KEYS: dict[tuple[str, str, str], int] = {}
_NUMBERS = itertools.count()  # next() and setdefault() are atomic: policies loaded on two threads get distinct keys
_UNKNOWN: Any = object()


def _leaf_key(name: str, operator: str, value: Any) -> int:
    """The same number for every leaf that asks the same question (field, operator, value), in any condition:
    the key of its outcome in `Facts.memo`. A value JSON cannot spell gets a number of its own."""
    number = next(_NUMBERS)
    try:
        spec = (name, operator, json.dumps(value, sort_keys=True))
    except (TypeError, ValueError):
        return number
    return _LEAF_KEYS.setdefault(spec, number)


def _plain_leaf(key: int, compare: Compare, getter: Getter) -> Predicate:
    def leaf(facts: Facts) -> bool:
        memo = facts.memo
        if memo is None:
            return bool(compare(getter(facts)))
        known = memo.get(key)
        if known is None:
            known = memo[key] = bool(compare(getter(facts)))
        return cast(bool, known)  # a plain leaf keeps a bool

    return leaf
