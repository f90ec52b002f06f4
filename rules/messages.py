"""What a message template can say: the context every reply and note is rendered with.

Placeholders are declared in rules.templates.PLACEHOLDERS (a typo is a load error); this module fills them
from the working ticket, the remembered state and the event that fired the rule. Nothing raw reaches a
customer or an agent: a value that is not known is an empty string (templates say something sensible with
`{% if %}`), never `None` or an id; times are told in the requester's language and time zone when known
(rules.telling).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from babel.core import Locale

from escalator.rules.durations import humanize
from escalator.rules.facts import Facts
from escalator.rules.model import Ticket, TicketEvent, parse_instant
from escalator.rules.policy import Policy, Unit
from escalator.rules.sla import SlaClock, deadline_of
from escalator.rules.state import TicketState
from escalator.rules.telling import Moment, Reader, babel_locale, reader, zone_of
from escalator.rules.templates import Blank

if TYPE_CHECKING:
    from escalator.rules.actions import Step, Working


def unit_context(unit: Unit | None) -> dict[str, str]:
    return {"id": unit.id, "name": unit.name} if unit else {"id": "", "name": ""}


class Clocks:
    """The deadlines the ticket runs on now (for the unit it is in, or has just been moved to), each worked
    out once, when a template first shows it (for the customer or the team)."""

    def __init__(self, working: Working, unit: Unit | None, at: datetime) -> None:
        self.working, self.unit, self.at = working, unit, at
        policy, ticket = working.policy, working.ticket
        self.sla = policy.sla_for(unit.id if unit else None, ticket.priority, working.segments)
        self._found: dict[str, datetime | None] = {}

    def deadline(self, metric: str) -> datetime | None:
        if metric not in self._found:
            self._found[metric] = self._deadline(metric)
        return self._found[metric]

    def _deadline(self, metric: str) -> datetime | None:
        if self.sla is None or metric not in self.sla.targets or self.unit is None:
            return None
        data = self.working.state.clocks.get(metric)
        clock = SlaClock.reading(data) if data else None
        if clock is not None and clock.unit == self.unit.id and clock.target == self.sla.targets[metric]:
            if clock.done_at is not None or clock.running_since is None:
                return None  # met already, or paused while we wait on the customer
            return deadline_of(self.working.policy, clock)
        if self.working.ticket.status in self.sla.pause_on:
            return None
        return self.sla.calendar.add(self.at, self.sla.targets[metric])  # its clock starts now


def next_update(working: Working, facts: Facts, at: datetime) -> datetime | None:
    """When the customer hears from us next if nobody replies: the earliest progress update (a trigger that
    replies `after` a silence `since` the last public reply) whose conditions hold now."""
    dues = [
        trigger.calendar.add(at, trigger.after)
        for trigger in working.policy.timed_triggers
        if trigger.after is not None
        and trigger.since == "public_reply"
        and any(action.kind == "reply" for action in trigger.actions)
        and trigger.condition(facts)
    ]
    return min(dues, default=None)


def home_zone(policy: Policy) -> str:
    """Where the support team works: the first business calendar's zone (UTC without one). Internal notes
    speak this time; customer messages too when the requester's own zone is not known."""
    return next((calendar.timezone for calendar in policy.calendars.values()), "UTC")


def _fields(values: Mapping[str, Any]) -> Blank:
    return Blank({key: "" if value is None else value for key, value in values.items()})


def _trail(policy: Policy, groups: list[str]) -> str:
    """`Frontline Support -> Technical Specialists -> Frontline Support`: where the ticket has been."""
    names = []
    for group in groups:
        unit = policy.unit(group)
        names.append(unit.name if unit is not None else group.removeprefix("group:"))
    return " -> ".join(names)


def _latest(policy: Policy, working: Working) -> dict[str, str]:
    state = working.state
    last = state.escalations[-1] if state.escalations else None
    if last is None:
        return {"count": "0", "source": "", "target": "", "by": "", "reason": "", "rule": "", "agent": ""}
    source, target = policy.unit(last.source), policy.unit(last.target)
    return {
        "count": str(sum(entry.direction == "up" for entry in state.escalations)),
        "source": source.name if source else "",
        "target": target.name if target else "",
        "by": last.by,
        "reason": last.reason or "",
        "rule": last.rule,
        # Only the assignee's name is known: it names the mover only when the assignee made the move.
        "agent": (working.ticket.assignee_name or "")
        if last.by == "agent" and last.actor and last.actor == working.ticket.assignee_id
        else "",
    }


class _Parts:
    """What a message's context is made from, each worked out once and only if a placeholder needs it."""

    def __init__(self, working: Working, step: Step) -> None:
        self.working: Working = working
        self.step: Step = step
        self.ticket: Ticket = working.ticket
        self.state: TicketState = working.state
        self.event: TicketEvent = working.event
        self.policy: Policy = working.policy
        occurred = self.event.occurred_at
        self.at = occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC)

    @cached_property
    def unit(self) -> Unit | None:
        return self.policy.unit(self.state.team or self.state.tier)

    @cached_property
    def clocks(self) -> Clocks:
        return Clocks(self.working, self.unit, self.at)

    @cached_property
    def locale(self) -> Locale:
        return babel_locale(self.ticket.requester.locale)

    @cached_property
    def home(self) -> str:
        return home_zone(self.policy)

    @cached_property
    def customer(self) -> Reader:
        """The requester, in their language and time zone (the team's when theirs is not known)."""
        return reader(self.locale, zone_of(self.ticket.requester.time_zone, self.home))

    @cached_property
    def team(self) -> Reader:
        """The support team: English (the default locale), in the first business calendar's zone."""
        return reader(babel_locale(None), zone_of(None, self.home))


_METRICS = ("first_response", "next_response", "resolution")


def _ticket_part(parts: _Parts) -> dict[str, Any]:
    ticket = parts.ticket
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "description": ticket.description,
        "priority": ticket.priority or "normal",
        "status": ticket.status,
        "tags": list(ticket.tags),
        "channel": ticket.channel or "",
        "url": "",
    }


def _requester_part(parts: _Parts) -> dict[str, Any]:
    requester = parts.ticket.requester
    return {
        "name": requester.name,
        "first_name": requester.first_name,
        "email": requester.email or "",
        "locale": requester.locale or "",
        "time_zone": requester.time_zone or "",
    }


def _organization_part(parts: _Parts) -> dict[str, Any]:
    organization = parts.ticket.organization
    return {
        "name": organization.name if organization else "",
        "tags": list(organization.tags) if organization else [],
        "fields": _fields(organization.fields if organization else {}),
    }


def _sla_part(parts: _Parts) -> dict[str, str]:
    sla = parts.clocks.sla
    targets = {metric: humanize(seconds) for metric, seconds in (sla.targets.items() if sla else ())}
    return {metric: targets.get(metric, "") for metric in _METRICS}


def _comment_part(parts: _Parts) -> dict[str, Any]:
    comment = parts.event.comment
    return {"body": comment.body if comment else "", "public": comment.public if comment else False}


def _alert_part(parts: _Parts) -> dict[str, Any]:
    detail = parts.event.detail
    due = parse_instant(detail["due"]) if isinstance(detail.get("due"), str) else None
    return {
        "metric": str(detail.get("metric", "")).replace("_", " "),
        "percent": round(float(detail.get("fraction", 1.0)) * 100),
        "due": Moment(due, parts.team),
    }


def _next_update_part(parts: _Parts) -> Moment:
    working, facts, at = parts.working, parts.step.facts, parts.at
    return Moment(lambda: next_update(working, facts, at), parts.customer)


def _pause_part(parts: _Parts) -> dict[str, Any]:
    pause = parts.state.pause
    return {
        "count": int(pause.get("count", 0)),
        "reason": str(pause.get("reason") or "the clocks run: the ticket is not waiting on the customer"),
        "paused_for": humanize(float(pause.get("total", 0.0))),
    }


def _incident_part(parts: _Parts) -> dict[str, Any]:
    # A ticket's own messages know only which incident it joined (plugin.incidents tells it the rest).
    return {
        "id": parts.state.incident or "",
        "count": "",
        "rule": "",
        "problem_id": "",
        "opened_at": "",
        "customers": [],
        "organizations": [],
        "tickets": [],
    }


_PARTS: dict[str, Callable[[_Parts], Any]] = {
    "ticket": _ticket_part,
    "requester": _requester_part,
    "organization": _organization_part,
    "tier": lambda parts: unit_context(parts.unit),
    "previous_tier": lambda parts: unit_context(parts.step.previous),
    "moved": lambda parts: parts.unit is not None and parts.unit != parts.step.previous,
    "assignee": lambda parts: {"name": parts.ticket.assignee_name or ""},
    "rule": lambda parts: {"id": parts.step.trigger.id},
    "matched": lambda parts: parts.step.matched or "",
    "comment": _comment_part,
    "sla": _sla_part,
    "deadline": lambda parts: {
        metric: Moment(partial(parts.clocks.deadline, metric), parts.customer) for metric in _METRICS
    },
    "deadline_internal": lambda parts: {
        metric: Moment(partial(parts.clocks.deadline, metric), parts.team) for metric in _METRICS
    },
    "next_update": _next_update_part,
    "escalation": lambda parts: _latest(parts.policy, parts.working),
    "alert": _alert_part,
    "notes": lambda parts: list(parts.state.notes),
    "resolution": lambda parts: {"comment": parts.state.last_agent_reply},
    "trail": lambda parts: _trail(parts.policy, parts.state.groups),
    "segments": lambda parts: list(parts.working.segments),
    "bounces": lambda parts: parts.state.bounces,
    "touches": lambda parts: parts.state.touches,
    "incident": _incident_part,
    "pause": _pause_part,
}
"""Every top-level placeholder (rules.templates.PLACEHOLDERS) and how its value is made."""


def message_context(working: Working, step: Step, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The context a template renders with: every placeholder, or only `names` (the ones the template reads,
    MessageTemplate.names: a note reading five of the two dozen need not have the rest made)."""
    parts = _Parts(working, step)
    wanted = _PARTS if names is None else names
    return {name: _PARTS[name](parts) for name in wanted if name in _PARTS}
