"""What one evaluation decided to change on a ticket: vendor-neutral, written back by a connector."""

from __future__ import annotations

from dataclasses import dataclass, field

from escalator.rules.model import Ticket, revised
from escalator.rules.policy import Unit


@dataclass(frozen=True)
class PlannedComment:
    key: str
    """Stable across re-runs of the same decision, so a reply is never sent to a customer twice."""
    body: str
    public: bool
    rule: str


@dataclass(frozen=True)
class PlannedAction:
    """One action a trigger carried out, as data: what `escalator simulate` lists per ticket."""

    rule: str
    action: str
    to: str | None = None
    value: str | None = None
    template: str | None = None


@dataclass
class Plan:
    unit: Unit | None = None
    priority: str | None = None
    assignee: str | None = None
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    comments: list[PlannedComment] = field(default_factory=list)
    followers: list[str] = field(default_factory=list)
    """Agents (ids or emails) who stay on the ticket as owners: Zendesk followers, Freshdesk notified agents."""
    reasons: list[str] = field(default_factory=list)
    """One line per rule that fired or was held back, for logs, the demo and the audit trail."""
    actions: list[PlannedAction] = field(default_factory=list)
    incident: str | None = None
    """The open incident the ticket joined in this pass (its notice is sent in bulk by plugin.incidents)."""
    incident_solved: str | None = None
    """This ticket is an incident's problem ticket and was just solved: the incident resolves."""

    def has_writes(self) -> bool:
        return bool(
            self.unit
            or self.priority
            or self.assignee
            or self.add_tags
            or self.remove_tags
            or self.comments
            or self.followers
        )

    def merge(self, later: Plan) -> None:
        """Fold a later evaluation's plan into this one: later field values win, comments accumulate in order."""
        self.unit = later.unit or self.unit
        self.priority = later.priority or self.priority
        self.assignee = later.assignee or self.assignee
        self.add_tags = [tag for tag in self.add_tags if tag not in later.remove_tags] + [
            tag for tag in later.add_tags if tag not in self.add_tags
        ]
        self.remove_tags = [tag for tag in self.remove_tags if tag not in later.add_tags] + [
            tag for tag in later.remove_tags if tag not in self.remove_tags
        ]
        self.comments.extend(later.comments)
        self.followers += [agent for agent in later.followers if agent not in self.followers]
        self.reasons.extend(later.reasons)
        self.actions.extend(later.actions)
        self.incident = later.incident or self.incident
        self.incident_solved = later.incident_solved or self.incident_solved


def apply_plan(ticket: Ticket, plan: Plan) -> Ticket:
    """The ticket as it will be once the plan is written: what the next event of the same batch sees."""
    if (
        not (plan.unit or plan.priority or plan.assignee or plan.add_tags or plan.remove_tags)
        and type(ticket.tags) is tuple
    ):
        return ticket  # nothing to write: the same (immutable) ticket, not a copy built field by field
    tags = [tag for tag in ticket.tags if tag not in plan.remove_tags] + [
        tag for tag in plan.add_tags if tag not in ticket.tags
    ]
    return revised(
        ticket,
        group_name=str(plan.unit.group) if plan.unit else ticket.group_name,
        priority=plan.priority or ticket.priority,
        assignee_id=plan.assignee or ticket.assignee_id,
        tags=tuple(tags),
    )
