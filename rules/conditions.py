"""Compile condition trees (`all` / `any` / `not` / leaf) into predicates over Facts, checking names at load."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rules.errors import RuleProblem, child, suggest
from rules.facts import Facts, known_field_names, resolve_field
from rules.operators import OPERATORS, OperatorValueError, compile_comparison

Predicate = Callable[[Facts], bool]


def always(_facts: Facts) -> bool:
    return True


def compile_condition(node: Mapping[str, Any], path: str, problems: list[RuleProblem]) -> Predicate:
    """Build the predicate; problems are appended (with paths) rather than raised so all are reported."""
    if "all" in node:
        parts = [compile_condition(item, child(child(path, "all"), i), problems) for i, item in enumerate(node["all"])]
        return lambda facts: all(part(facts) for part in parts)
    if "any" in node:
        parts = [compile_condition(item, child(child(path, "any"), i), problems) for i, item in enumerate(node["any"])]
        return lambda facts: any(part(facts) for part in parts)
    if "not" in node:
        inner = compile_condition(node["not"], child(path, "not"), problems)
        return lambda facts: not inner(facts)
    return _compile_leaf(node, path, problems)


def _compile_leaf(node: Mapping[str, Any], path: str, problems: list[RuleProblem]) -> Predicate:
    name, operator, value = node.get("field", ""), node.get("operator", ""), node.get("value")
    getter = resolve_field(name)
    if getter is None:
        problems.append(
            RuleProblem(child(path, "field"), f"unknown field '{name}'{suggest(name, known_field_names())}")
        )
    if operator not in OPERATORS:
        problems.append(
            RuleProblem(child(path, "operator"), f"unknown operator '{operator}'{suggest(operator, OPERATORS)}")
        )
    if getter is None or operator not in OPERATORS:
        return always
    try:
        compare = compile_comparison(operator, value)
    except OperatorValueError as error:
        problems.append(RuleProblem(child(path, "value"), str(error)))
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
