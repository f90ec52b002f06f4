"""Compile condition trees (`all` / `any` / `not` / leaf) into predicates over Facts, checking names at load."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from escalator.rules.errors import RuleProblem, child, suggest
from escalator.rules.facts import Facts, known_field_names, resolve_field
from escalator.rules.operators import MISSING, OPERATORS, OperatorValueError, compile_comparison

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
            parts = [compile_condition(item, child(child(path, group), i), problems) for i, item in enumerate(items)]
            if group == "all":
                return lambda facts: all(part(facts) for part in parts)
            return lambda facts: any(part(facts) for part in parts)
    if "not" in node:
        inner = compile_condition(node["not"], child(path, "not"), problems)
        return lambda facts: not inner(facts)
    return _compile_leaf(node, path, problems)


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

    def leaf(facts: Facts) -> bool:
        outcome = compare(getter(facts))
        if isinstance(outcome, str):
            facts.matched.append(outcome)  # the phrase that matched, for templates and handoff notes
        return bool(outcome)

    return leaf
