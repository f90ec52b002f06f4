"""Which trigger did what: a plan's actions as `escalator simulate` lists them per ticket.

The engine records every action a trigger carries out as data (`Plan.actions`: one `PlannedAction(rule,
action, to, value, template)` per action, in the order the triggers took them); a replay stamps them with
the instant of the decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from escalator.rules.plan import Plan


class SimAction(NamedTuple):
    """One thing Escalator would have written (DESIGN §9 `per_ticket.<id>.actions[]`)."""

    at: datetime
    rule: str
    action: str
    """`escalate`, `set_priority`, `reply`, `note`, `assign`, `add_follower`, `add_tags`, `remove_tags`."""
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


def plan_actions(plan: Plan, at: datetime) -> list[SimAction]:
    """The plan's actions in the order the triggers took them, each with its trigger."""
    return [SimAction(at, a.rule, a.action, a.to, a.value, a.template) for a in plan.actions]
