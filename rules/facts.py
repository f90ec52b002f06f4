"""The fields a condition can read: one registry, so unknown names are load errors with suggestions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from escalator.rules.model import Ticket, TicketEvent
from escalator.rules.state import TicketState


@dataclass
class Facts:
    """Everything a condition may look at during one evaluation; `ticket` reflects actions planned so far."""

    ticket: Ticket
    state: TicketState
    event: TicketEvent
    segments: tuple[str, ...] = ()
    matched: list[str] = field(default_factory=list)
    history: Mapping[str, int] = field(default_factory=dict)
    """What the worker knows beyond this ticket, by field name (`organization.history.critical_90d`, ...):
    kept incrementally in Redis as tickets become urgent or escalated, read once per pass."""
    memo: dict[int, bool | str] | None = None
    """Leaf outcomes (rules.conditions), when several conditions are asked of these very facts and nothing
    changes in between (rules.schedule's probe of every timed trigger). None: every leaf is evaluated."""


Getter = Callable[[Facts], Any]

HISTORY_FIELDS = ("organization.history.critical_90d", "requester.history.critical_90d")
"""How many of the organization's / requester's tickets reached priority urgent or were escalated in the last
90 days (DESIGN §5): "customers with a history of critical issues"."""


def _latest_escalation(facts: Facts) -> Any:
    return facts.state.escalations[-1] if facts.state.escalations else None


def _escalation(attribute: str) -> Getter:
    def get(facts: Facts) -> Any:
        latest = _latest_escalation(facts)
        return getattr(latest, attribute) if latest is not None else None

    return get


def _text(facts: Facts) -> str:
    parts = [facts.ticket.subject, facts.ticket.description]
    if facts.event.comment is not None:
        parts.append(facts.event.comment.body)
    return "\n".join(part for part in parts if part)


def _customer_text(facts: Facts) -> str:
    """What the customer wrote in this event: keywords must come from them, never from an agent.

    A new ticket: its subject and description. A comment: the requester's public comment only (an agent's
    reply or an internal note, even one quoting the customer, is not the customer speaking now). Anything
    else: nothing, so an update or a timer never re-reads old text as if it were new.
    """
    event = facts.event
    if event.kind == "ticket.created":
        return "\n".join(part for part in (facts.ticket.subject, facts.ticket.description) if part)
    comment = event.comment
    if event.kind == "comment.added" and comment is not None and comment.public and comment.author == "requester":
        return comment.body
    return ""


ACTIVE_STATUSES = frozenset({"new", "open"})
"""Statuses in which the team owes the next step (not waiting on the customer, not done)."""


def _active(facts: Facts) -> bool:
    """The team owes the next step: new or open, or a pause status whose pause does not stop the clocks
    (nobody asked the customer anything, or `max_pause` ran out: rules.pausing)."""
    status = facts.ticket.status
    if status in ACTIVE_STATUSES:
        return True
    return bool(facts.state.pause.get("since")) and not facts.state.pause.get("honored_since")


def _org(facts: Facts) -> Any:
    return facts.ticket.organization


FIELDS: dict[str, Getter] = {
    "text": _text,
    "customer_text": _customer_text,
    "subject": lambda f: f.ticket.subject,
    "description": lambda f: f.ticket.description,
    "priority": lambda f: f.ticket.priority,
    "status": lambda f: f.ticket.status,
    "tags": lambda f: f.ticket.tags,
    "channel": lambda f: f.ticket.channel,
    "tier": lambda f: f.state.tier,
    "team": lambda f: f.state.team,
    "group": lambda f: f.ticket.group_name or f.ticket.group_id,
    "assignee": lambda f: f.ticket.assignee_id,
    "escalated": lambda f: f.state.escalated,
    "routed": lambda f: f.state.routed,
    "owner": lambda f: f.state.owner,
    "actor": lambda f: f.event.actor_id,
    "escalation.by": _escalation("by"),
    "escalation.reason": _escalation("reason"),
    "escalation.from": _escalation("source"),
    "escalation.to": _escalation("target"),
    "escalation.direction": _escalation("direction"),
    **{name: (lambda key: lambda f: f.history.get(key, 0))(name) for name in HISTORY_FIELDS},
    "segments": lambda f: f.segments,
    "requester.email": lambda f: f.ticket.requester.email,
    "requester.name": lambda f: f.ticket.requester.name,
    "requester.tags": lambda f: f.ticket.requester.tags,
    "requester.locale": lambda f: f.ticket.requester.locale,
    "organization.name": lambda f: _org(f).name if _org(f) else None,
    "organization.tags": lambda f: _org(f).tags if _org(f) else (),
    "comment.public": lambda f: f.event.comment.public if f.event.comment else None,
    "comment.author": lambda f: f.event.comment.author if f.event.comment else None,
    "comment.body": lambda f: f.event.comment.body if f.event.comment else None,
    "reassignments": lambda f: f.state.reassignments,
    "bounces": lambda f: f.state.bounces,
    "touches": lambda f: f.state.touches,
    "escalations": lambda f: sum(entry.direction == "up" for entry in f.state.escalations),
    "event": lambda f: f.event.kind,
    "sla.metric": lambda f: f.event.detail.get("metric"),
    "sla.tier": lambda f: f.event.detail.get("tier"),
    "sla.fraction": lambda f: f.event.detail.get("fraction"),
    "active": _active,
    "paused": lambda f: bool(f.state.pause.get("honored_since")),
    "pauses": lambda f: int(f.state.pause.get("count", 0)),
    "incident": lambda f: f.state.incident,
}

PREFIXED_FIELDS: dict[str, Callable[[str], Getter]] = {
    "organization.fields.": lambda key: lambda f: _org(f).fields.get(key) if _org(f) else None,
    "custom_fields.": lambda key: lambda f: f.ticket.custom_fields.get(key),
    "changes.": lambda key: lambda f: f.event.changes[key][1] if key in f.event.changes else None,
}
"""Families of fields whose last part is the admin's own key (an organization field, a custom field id)."""


TICKET_FIELDS = frozenset(
    {
        "subject",
        "description",
        "priority",
        "status",
        "tags",
        "channel",
        "group",
        "assignee",
        "requester.email",
        "requester.name",
        "requester.tags",
        "requester.locale",
        "organization.name",
        "organization.tags",
        *HISTORY_FIELDS,
    }
)
"""Fields read from the ticket and the history facts alone (not the event, not the remembered state)."""
_TICKET_PREFIXES = ("organization.fields.", "custom_fields.")


def reads_ticket_only(names: frozenset[str]) -> bool:
    """Whether a condition reading `names` answers the same for the same ticket and history facts, whatever
    the event and the state."""
    return all(name in TICKET_FIELDS or name.startswith(_TICKET_PREFIXES) for name in names)


def resolve_field(name: str) -> Getter | None:
    """The getter for a field name, or None when no such field exists."""
    if name in FIELDS:
        return FIELDS[name]
    for prefix, make in PREFIXED_FIELDS.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return make(name[len(prefix) :])
    return None


def known_field_names() -> list[str]:
    return [*FIELDS, *(prefix + "<key>" for prefix in PREFIXED_FIELDS)]
