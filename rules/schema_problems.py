"""JSON Schema errors of a rules file as an admin should read them: one line per problem at its JSON path,
naming the kind of value expected (`unknown event 'ticket.create' (did you mean 'ticket.created'?)`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from escalator.rules.errors import RuleProblem, child, suggest

_NOUNS: dict[str, str] = {
    "operator": "operator",
    "action": "action",
    "on": "event",
    "since": "anchor",
    "priority": "priority",
    "value": "priority",
    "pause_on": "status",
    "hours": "day",
}
"""The last key of a path -> what an enum there lists, so a schema error reads `unknown event 'x'`."""


def _json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        path = child(path, part)
    return path


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, default=repr)


def schema_problems(error: ValidationError) -> list[RuleProblem]:
    """Turn one JSON Schema error into admin-readable problems, each at the path of the offending value."""
    parts = list(error.absolute_path)
    path = _json_path(parts)
    # jsonschema types these loosely (they may be "unset"); here they always come from a real error.
    instance: Any = error.instance
    expected: Any = error.validator_value
    subschema: Any = error.schema
    validator = error.validator
    if validator == "additionalProperties" and expected is False and isinstance(instance, Mapping):
        allowed = list(subschema.get("properties", {}))
        return [
            RuleProblem(child(path, key), f"unknown key '{key}'{suggest(key, allowed)}")
            for key in instance
            if key not in allowed
        ]
    if validator == "required" and isinstance(instance, Mapping):
        return [RuleProblem(path, f"missing required key '{key}'") for key in expected if key not in instance]
    if validator == "dependentRequired" and isinstance(instance, Mapping):
        return [
            RuleProblem(path, f"'{key}' needs '{needed}'")
            for key, needs in expected.items()
            if key in instance
            for needed in needs
            if needed not in instance
        ]
    if validator == "not" and expected == {"required": ["on", "after"]}:
        return [RuleProblem(path, "a trigger fires either 'on' events or 'after' a duration, not both")]
    if validator == "not" and expected == {"required": ["tier", "team"]}:
        return [RuleProblem(path, "an SLA row is for a 'tier' or for a 'team', not both")]
    if "propertyNames" in error.schema_path and isinstance(instance, str):
        parts.append(instance)
        path = child(path, instance)
    if validator in ("enum", "const", "anyOf"):
        message = _choice_message(error, parts)
        if message is not None:
            return [RuleProblem(path, message)]
        if validator == "anyOf" and error.context:
            # The alternative whose type fitted went deepest: its complaint is the one that helps.
            deeper = [sub for sub in error.context if sub.relative_path]
            typed = [sub for sub in error.context if sub.validator != "type"]
            return schema_problems(best_match(deeper or typed or error.context))
    return [RuleProblem(path, error.message)]


def _choice_message(error: ValidationError, parts: Sequence[str | int]) -> str | None:
    """`unknown priority 'hgih' (did you mean 'high'?)` for a value outside a fixed list, None if not one."""
    validator = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    if validator == "anyOf" and all(isinstance(alt, Mapping) and set(alt) == {"required"} for alt in expected):
        keys = [key for alt in expected for key in alt["required"]]
        return "needs " + " or ".join(f"'{key}'" for key in keys)
    choices: list[Any] = []
    if validator == "enum":
        choices = list(expected)
    elif validator == "const":
        choices = [expected]
    else:
        for sub in error.context or ():
            listed: Any = sub.validator_value
            if not sub.relative_path and sub.validator == "enum":
                choices.extend(listed)
            elif not sub.relative_path and sub.validator == "const":
                choices.append(listed)
    if not choices or not isinstance(instance, str | int | float | bool | None):
        return None
    noun = next((_NOUNS[part] for part in reversed(parts) if isinstance(part, str) and part in _NOUNS), None)
    if len(choices) == 1 and noun is None:
        return f"must be {_show(choices[0])}, not {_show(instance)}"
    near = suggest(instance, [str(choice) for choice in choices]) if isinstance(instance, str) else ""
    if noun == "event" and instance == "timer.elapsed":
        near = " (timers are internal: an elapsed-time trigger uses `after` and `since`)"
    if noun is not None:
        return f"unknown {noun} {_show(instance)}{near}"
    return f"{_show(instance)} is not one of {', '.join(_show(choice) for choice in choices)}{near}"
