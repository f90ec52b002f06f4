"""The rules file's `incidents` section (DESIGN §5): spike detectors, their references checked by JSON path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from escalator.rules.durations import DurationError, parse_duration
from escalator.rules.errors import child, suggest
from escalator.rules.policy import IncidentRule

TEMPLATE_KEYS = ("subject", "handoff", "notice", "resolution")
DEFAULT_PRIORITY = "urgent"


def load_incidents(
    items: list[tuple[str, Mapping[str, Any]]],
    problem: Callable[[str, str], None],
    *,
    trigger_ids: set[str],
    unit_ids: set[str],
    template_names: set[str],
) -> list[IncidentRule]:
    """Every detector that is whole; each bad reference is one problem at its path (the schema has already
    named missing or mistyped members: those detectors are skipped without a second message)."""
    rules: list[IncidentRule] = []
    seen: set[str] = set()
    for path, item in items:
        rule_id, trigger, unit = item.get("id"), item.get("trigger"), item.get("escalate_to")
        whole = isinstance(rule_id, str) and isinstance(trigger, str) and isinstance(unit, str)
        if isinstance(rule_id, str) and rule_id in seen:
            problem(child(path, "id"), f"duplicate incident id '{rule_id}'")
        if isinstance(trigger, str) and trigger not in trigger_ids:
            problem(child(path, "trigger"), f"unknown trigger '{trigger}'{suggest(trigger, trigger_ids)}")
        if isinstance(unit, str) and unit not in unit_ids:
            problem(child(path, "escalate_to"), f"unknown tier or team '{unit}'{suggest(unit, unit_ids)}")
        for key in TEMPLATE_KEYS:
            name = item.get(key)
            if isinstance(name, str) and name not in template_names:
                problem(child(path, key), f"unknown template '{name}'{suggest(name, template_names)}")
        within = _seconds(item.get("within"), child(path, "within"), problem)
        threshold = item.get("threshold")
        names = [item.get(key) for key in TEMPLATE_KEYS]
        if not whole or within is None or not isinstance(threshold, int) or not all(isinstance(n, str) for n in names):
            continue
        seen.add(str(rule_id))
        rules.append(
            IncidentRule(
                id=str(rule_id), trigger=str(trigger), threshold=threshold, within=within, escalate_to=str(unit),
                priority=str(item.get("priority") or DEFAULT_PRIORITY),
                subject=str(names[0]), handoff=str(names[1]), notice=str(names[2]), resolution=str(names[3]),
                description=str(item.get("description") or ""),
            )
        )  # fmt: skip
    return rules


def _seconds(text: Any, path: str, problem: Callable[[str, str], None]) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_duration(text)
    except DurationError as error:
        problem(path, str(error))
        return None
