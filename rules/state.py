"""What Escalator remembers about one ticket between events (persisted by the plugin, pure here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from escalator.rules.model import parse_instant

ANCHORS: tuple[str, ...] = (
    "created",
    "updated",
    "requester_update",
    "agent_update",
    "public_reply",
    "assigned",
    "escalated",
    "tier_entered",
    "status_changed",
)
"""Instants an elapsed-time trigger can count from (`since`)."""


def instant_key(value: str) -> datetime:
    """Anchors are stored as ISO text; compare them as instants (`…00.5Z` is later than `…00Z`, not earlier)."""
    instant = parse_instant(value)
    assert instant is not None, "anchors are never empty"
    return instant


@dataclass
class Escalation:
    """One move of the ticket up a tier or to a team (or, with `direction` "down", back down)."""

    at: str
    source: str | None
    target: str
    rule: str
    """The trigger that moved it ('' for a move an agent made)."""
    matched: str | None = None
    """The admin's phrase a keyword condition matched."""
    by: str = "rule"
    """"rule" (a trigger of the policy) or "agent" (a person moved the ticket in the help desk)."""
    reason: str | None = None
    """Why, in words: for an agent's move their latest internal note; for a rule its matched phrase or event."""
    actor: str | None = None
    """The agent who moved it (their id), for an agent's move."""
    direction: str = "up"
    """"up" (an escalation), "down" (a de-escalation) or "route" (placed at creation: routing, not escalation)."""


@dataclass
class TicketState:
    tier: str | None = None
    team: str | None = None
    groups: list[str] = field(default_factory=list)
    """Groups the ticket has sat in, in order (consecutive repeats collapsed): the hot-potato trail."""
    reassignments: int = 0
    bounces: int = 0
    touches: int = 0
    escalations: list[Escalation] = field(default_factory=list)
    anchors: dict[str, str] = field(default_factory=dict)
    fired: dict[str, str] = field(default_factory=dict)
    """Elapsed-time trigger id -> the anchor value it last fired for (fire once per anchor value)."""
    checked: dict[str, str] = field(default_factory=dict)
    """Elapsed-time trigger id -> anchor value whose timer came due while the condition was false; re-checked
    after the next activity on the ticket (as an hourly help-desk automation would), not before."""
    clocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """SLA metric -> its clock (rules.sla.SlaClock as a dict)."""
    timers: dict[str, str] = field(default_factory=dict)
    """Timer name -> the timer's key in the timer store, so timers no longer needed can be cancelled."""
    sla_log: list[dict[str, Any]] = field(default_factory=list)
    """Finished SLA clocks, newest last: `{metric, unit, outcome: met|breached, at}` (the attainment KPI;
    a tier's clocks are dropped when the ticket moves on, so their outcome is written down here)."""
    last_event_at: str | None = None
    last_webhook_at: str | None = None
    """The newest help-desk delivery seen (webhooks only, not timers): what reconciliation compares with."""
    reconciled_through: str | None = None
    """The ticket's `updated_at` when reconciliation last acted on it: a delivery of a change up to then that
    arrives late (a retry after an outage) was already caught up, so it is observed, never acted on twice."""
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    """The agent the ticket is assigned to, as last seen."""
    owner: str | None = None
    """Who stays accountable across handoffs (the escalating agent, or the account's dedicated owner)."""

    @property
    def escalated(self) -> bool:
        return bool(self.escalations)

    def enter_group(self, group: str | None) -> None:
        """Record a move; returning to a group the ticket already left is a bounce."""
        if group is None or (self.groups and self.groups[-1] == group):
            return
        if self.groups:
            self.reassignments += 1
            if group in self.groups:
                self.bounces += 1
        self.groups.append(group)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TicketState:
        values = dict(data)
        values["escalations"] = [Escalation(**item) for item in values.get("escalations", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in values.items() if key in known})
