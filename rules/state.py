"""What Escalator remembers about one ticket between events (persisted by the plugin, pure here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalator.rules.model import parse_instant, parse_instant_text

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
    "agent_activity",
    "agent_reply",
)
"""Instants an elapsed-time trigger can count from (`since`). `agent_activity`: the last comment (public or
internal) or status change by an agent, or the moment the ticket came back from waiting on the customer —
what "idle" means: a ticket people are working on is not idle, whatever else updates it, and a customer's
reply after days of waiting does not find it idle already. `agent_reply`: a person's last public reply to the
customer (Escalator's own notices are not one): what makes a pause honest (rules.pausing)."""

NOTES_KEPT = 3
"""Latest internal notes by agents remembered: the reason of an agent's escalation, and "what has been
tried" in the handoff note."""


def instant_key(value: str) -> datetime:
    """Anchors are stored as ISO text; compare them as instants (`…00.5Z` is later than `…00Z`, not earlier)."""
    if type(value) is str and value:
        return parse_instant_text(value)  # parse_instant's own path for text, one call less (asked per anchor move)
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
    """How many distinct agents acted on the ticket (len(agents)): people, not comments."""
    agents: list[str] = field(default_factory=list)
    """The agents (ids) who commented on, moved or changed the ticket; Escalator itself is never one."""
    escalations: list[Escalation] = field(default_factory=list)
    """Every move between tiers and teams: escalations (up), de-escalations (down), routing at creation."""
    routed: bool = False
    """Placed at creation in a tier above the first or in a team (routing, not an escalation)."""
    notes: list[str] = field(default_factory=list)
    """The latest internal notes by agents, newest last (at most NOTES_KEPT, each cut to 1,000 characters)."""
    last_agent_reply: str = ""
    """The latest public reply by an agent (cut to 1,000 characters): what was done, for the resolution
    summary."""
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
    requester_id: str | None = None
    organization_id: str | None = None
    """Who the ticket is for, as last seen: their history of critical issues is kept per requester and per
    organization (rules.kpi.critical)."""
    owner: str | None = None
    """Who stays accountable across handoffs (the escalating agent, or the account's dedicated owner)."""
    incident: str | None = None
    """The incident the ticket joined (plugin.incidents links it to the problem ticket)."""
    pause: dict[str, Any] = field(default_factory=dict)
    """The ticket's pause (rules.pausing.PauseState as a dict): whether the clocks stand still, and why."""

    @property
    def escalated(self) -> bool:
        """Moved up a tier or to a team after creation, by a rule or by an agent (DESIGN §8)."""
        return any(entry.direction == "up" for entry in self.escalations)

    def touched_by(self, agent: str | None) -> None:
        if agent and agent not in self.agents:
            self.agents.append(agent)
            self.touches = len(self.agents)

    def remember_note(self, body: str) -> None:
        text = " ".join(body.split())[:1000]
        if text:
            self.notes = [*self.notes, text][-NOTES_KEPT:]

    def enter_group(self, group: str | None, *, may_bounce: bool = True) -> bool:
        """Record a move; returning to a group the ticket already left is a bounce (returns True then) unless
        `may_bounce` is false (a lead placing the ticket: the decision a bounce asks for)."""
        if group is None or (self.groups and self.groups[-1] == group):
            return False
        bounced = False
        if self.groups:
            self.reassignments += 1
            if may_bounce and group in self.groups:
                self.bounces += 1
                bounced = True
        self.groups.append(group)
        return bounced

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, equal to `dataclasses.asdict(self)` and as independent of the state, built
        directly: asdict's generic recursion was a sixth of a worker's time per decision."""
        data = {name: _copied(getattr(self, name)) for name in self.__dataclass_fields__}
        data["escalations"] = [
            {name: getattr(entry, name) for name in _ESCALATION_FIELDS} for entry in self.escalations
        ]
        return data

    def copy(self) -> TicketState:
        """A copy the engine may change freely: every list and dict of the state copied, one level deep. What
        they hold is never changed in place once made, so it is shared: texts and numbers, the Escalation
        records, each SLA clock's dict (the engine makes new ones, rules.engine._update_clocks; SlaClock
        .from_dict copies what it changes), each SLA log entry (appended whole), the pause's `by` (replaced,
        rules.pausing). `copy.deepcopy` spent half of each decision on its memo and reconstruction machinery;
        a copy all the way down was still a twentieth of a replay."""
        clone = object.__new__(type(self))  # what copy.copy does, without its __reduce_ex__ round trip
        values = vars(self).copy()
        for name in _CONTAINERS:
            value = values[name]
            if type(value) in _NESTED:
                values[name] = value.copy()
        clone.__dict__.update(values)
        return clone

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TicketState:
        values = dict(data)
        values["escalations"] = [Escalation(**item) for item in values.get("escalations", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in values.items() if key in known})


_ESCALATION_FIELDS = tuple(Escalation.__dataclass_fields__)
_CONTAINERS = tuple(
    name for name, spec in TicketState.__dataclass_fields__.items() if spec.default_factory in (list, dict)
)
"""The state's lists and dicts (TicketState.copy)."""


_NESTED = frozenset({dict, list})
"""The containers `_copied` copies; anything else (text, numbers, Escalation records) is shared."""


def _copied(value: Any) -> Any:
    # A state holds hundreds of leaves and is copied per event: a container of leaves only (most of them) is
    # told apart and copied at C speed (map/isdisjoint/copy), not item by item in Python.
    if type(value) is dict:
        if _NESTED.isdisjoint(map(type, value.values())):
            return value.copy()
        return {key: _copied(item) if type(item) in _NESTED else item for key, item in value.items()}
    if type(value) is list:
        if _NESTED.isdisjoint(map(type, value)):
            return value.copy()
        return [_copied(item) if type(item) in _NESTED else item for item in value]
    return value
