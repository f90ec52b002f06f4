"""Which trigger did what: a plan's changes as a list of per-trigger actions, for `escalator simulate`.

The plan's own record is used when the engine fills it: `Plan.actions`, one `PlannedAction(rule, action,
to, value, template)` per action, in the order the triggers took them.

STOPGAP, for an engine that does not fill `Plan.actions` yet: the escalation target, the priority value,
the template a comment came from, an assignment and tag changes are then known per trigger only from the
`reasons` lines the engine writes for the audit trail (`"outage-or-login: escalate L1 -> L2 (matched
'outage')"`, `"sla-breach: priority high -> urgent"`, `"outage-or-login: reply 'initial_escalation'"`,
`"x: assign to 7001"`, `"x: add tags a, b"`), and this module reads them. A plan with actions never goes
through the parser; remove `reasons_actions` once every engine in use fills `Plan.actions`.

The parser is strict about the shapes it knows and counts what it cannot read (`unread`), so a change in
the engine's wording shows as a test failure (tests/test_simulate.py checks every action kind), not as
silently missing actions. Trigger ids cannot contain `:` or spaces (rules/schema.json), which makes the
`<id>: ` prefix unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from escalator.rules.plan import Plan


class SimAction(NamedTuple):
    """One thing Escalator would have written (DESIGN §9 `per_ticket.<id>.actions[]`)."""

    at: datetime
    rule: str
    action: str
    """`escalate`, `set_priority`, `reply`, `note`, `assign`, `add_tags`, `remove_tags`."""
    to: str | None = None
    """The tier or team an escalation went to, or the agent an assignment named."""
    value: str | None = None
    """The new priority, or the tags added or removed (comma-separated)."""
    template: str | None = None
    """The template a reply or note was rendered from."""
    routing: bool = False
    """An escalate action that placed a new ticket (routing, DESIGN §5): counted apart from escalations."""

    def to_json(self, instant: str) -> dict[str, Any]:
        return {
            "at": instant,
            "rule": self.rule,
            "action": self.action,
            "to": self.to,
            "value": self.value,
            "template": self.template,
        }


_ESCALATE = re.compile(r"escalate (?P<source>\S+) -> (?P<target>\S+)(?: \(matched '.*'\))?")
_PRIORITY = re.compile(r"priority (?P<before>\S+) -> (?P<after>\S+)")
_COMMENT = re.compile(r"(?P<kind>reply|note) '(?P<template>[^']*)'")
_ASSIGN = re.compile(r"assign to (?P<to>.+)")
_TAGS = re.compile(r"(?P<kind>add|remove) tags (?P<tags>.*)")
_NOT_ACTIONS = re.compile(
    r"held back, .*|.* on a closed ticket: nothing can be changed|.*: observed only|.* ignored: .*"
)
"""Reasons that record a decision not to act: no action."""


class Attribution(NamedTuple):
    actions: list[SimAction]
    unread: list[str]
    """Reason lines that are neither a known action nor a known non-action (the engine's wording moved on)."""


def plan_actions(plan: Plan, at: datetime) -> Attribution:
    """The plan's actions in the order the triggers took them, each with its trigger."""
    if plan.actions:
        return Attribution([SimAction(at, a.rule, a.action, a.to, a.value, a.template) for a in plan.actions], [])
    return reasons_actions(plan.reasons, at)


def reasons_actions(reasons: Iterable[str], at: datetime) -> Attribution:
    actions: list[SimAction] = []
    unread: list[str] = []
    for line in reasons:
        rule, separator, rest = line.partition(": ")
        if not separator or " " in rule:
            if not _NOT_ACTIONS.fullmatch(line):
                unread.append(line)
            continue
        action = _action(rule, rest, at)
        if action is not None:
            actions.append(action)
        elif not _NOT_ACTIONS.fullmatch(rest):
            unread.append(line)
    return Attribution(actions, unread)


def _action(rule: str, rest: str, at: datetime) -> SimAction | None:
    if found := _ESCALATE.fullmatch(rest):
        return SimAction(at, rule, "escalate", to=found["target"])
    if found := _PRIORITY.fullmatch(rest):
        return SimAction(at, rule, "set_priority", value=found["after"])
    if found := _COMMENT.fullmatch(rest):
        return SimAction(at, rule, found["kind"], template=found["template"])
    if found := _ASSIGN.fullmatch(rest):
        return SimAction(at, rule, "assign", to=found["to"])
    if found := _TAGS.fullmatch(rest):
        return SimAction(at, rule, f"{found['kind']}_tags", value=found["tags"])
    return None
