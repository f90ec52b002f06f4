"""A decided plan, saved before its first write: once part of it has landed, it is finished, not re-decided.

Re-deciding after our own first PUT would see the ticket already in its new group and hold the rest back
(the note would never be posted). So a crash, a timeout or a 409 after a partial write resumes the saved
plan: fields are re-diffed against the fresh ticket, comments already sent are skipped by the ledger.
The plan is saved with the comments' "sending" marks in one round trip (plugin.ledger.PassLedger), read back
with the ticket's claim and dropped by its finish (plugin.queue).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from escalator.rules.plan import Plan, PlannedAction, PlannedComment
from escalator.rules.policy import Unit
from escalator.rules.state import TicketState


@dataclass
class PendingDecision:
    plan: Plan
    state: TicketState
    consumed: int
    """How many inbox events the decision covers (dropped from the inbox when it is finished)."""
    dead: list[tuple[str, str]] = field(default_factory=list)
    """(raw event, error) of the poison events among them, dead-lettered when the decision is finished."""

    def to_json(self) -> str:
        return json.dumps(
            {"plan": asdict(self.plan), "state": self.state.to_dict(), "consumed": self.consumed, "dead": self.dead}
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> PendingDecision:
        data = json.loads(raw)
        plan: dict[str, Any] = data["plan"]
        return cls(
            plan=Plan(
                unit=Unit(**plan["unit"]) if plan.get("unit") else None,
                priority=plan.get("priority"),
                assignee=plan.get("assignee"),
                add_tags=list(plan.get("add_tags", [])),
                remove_tags=list(plan.get("remove_tags", [])),
                comments=[PlannedComment(**comment) for comment in plan.get("comments", [])],
                followers=list(plan.get("followers", [])),
                reasons=list(plan.get("reasons", [])),
                actions=[PlannedAction(**action) for action in plan.get("actions", [])],
            ),
            state=TicketState.from_dict(data["state"]),
            consumed=int(data["consumed"]),
            dead=[(str(raw), str(error)) for raw, error in data.get("dead", [])],
        )
