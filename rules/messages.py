"""What a message template can say: the context every reply and note is rendered with.

Placeholders are declared in rules.templates.PLACEHOLDERS (a typo is a load error); this module fills them
from the working ticket, the remembered state and the event that fired the rule. Nothing raw reaches a
customer or an agent: a value that is not known is an empty string (templates say something sensible with
`{% if %}`), never `None` or an id; times are told in the requester's language and time zone when known.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone_name

from escalator.rules.durations import humanize
from escalator.rules.facts import Facts
from escalator.rules.model import parse_instant
from escalator.rules.policy import Policy, Unit
from escalator.rules.sla import SlaClock, deadline_of

if TYPE_CHECKING:
    from escalator.rules.actions import Step, Working

DEFAULT_LOCALE = "en_US"


class Blank(dict[str, Any]):
    """A mapping whose missing keys read as "" (an organization field nobody filled in)."""

    def __missing__(self, key: str) -> str:
        return ""


def unit_context(unit: Unit | None) -> dict[str, str]:
    return {"id": unit.id, "name": unit.name} if unit else {"id": "", "name": ""}


@lru_cache(maxsize=256)
def babel_locale(code: str | None) -> Locale:
    """The reader's locale, one instance per code: a Locale caches its own data, so a fresh one per message
    reloaded it every time (a third of the cost of formatting a deadline)."""
    try:
        return Locale.parse((code or DEFAULT_LOCALE).replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALE)


def zone_of(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def when(instant: datetime | None, locale: Locale, zone: ZoneInfo) -> str:
    """`Monday, March 9, 2026, 10:30 AM (Eastern Time)`, in the reader's language and time zone."""
    if instant is None:
        return ""
    local = instant.astimezone(zone)
    hour = format_time(local, "short", locale=locale)
    return f"{_full_date(local.date(), locale)}, {hour} ({_zone_name(zone, locale)})"


@lru_cache(maxsize=4096)
def _full_date(day: date, locale: Locale) -> str:
    # Deadlines fall on a few dozen dates; Babel's formatting of one was a third of a message's formatting.
    return format_date(day, "full", locale=locale)


@lru_cache(maxsize=1024)
def _zone_name(zone: ZoneInfo, locale: Locale) -> str:
    """The zone's generic name (`Eastern Time`): without an instant, Babel's answer depends on nothing else."""
    utc = str(zone.key) in ("UTC", "Etc/UTC", "Etc/GMT", "GMT")
    return "UTC" if utc else get_timezone_name(zone, width="long", locale=locale, uncommon=False)


class Moment:
    """An instant as a template shows it (`when`), formatted only if the template prints it: a message has a
    dozen deadlines on offer and uses one or two, and Babel's formatting was a tenth of a decision. Empty and
    false when there is no instant, like the "" it stands for."""

    __slots__ = ("_text", "instant", "locale", "zone")

    def __init__(self, instant: datetime | None, locale: Locale, zone: ZoneInfo) -> None:
        self.instant, self.locale, self.zone = instant, locale, zone
        self._text: str | None = None

    def __bool__(self) -> bool:
        return self.instant is not None

    def __str__(self) -> str:
        if self._text is None:
            self._text = when(self.instant, self.locale, self.zone)
        return self._text

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class Clocks:
    """The deadlines the ticket runs on now (for the unit it is in, or has just been moved to)."""

    def __init__(self, working: Working, unit: Unit | None, at: datetime) -> None:
        self.working, self.unit, self.at = working, unit, at
        policy, ticket = working.policy, working.ticket
        self.sla = policy.sla_for(unit.id if unit else None, ticket.priority, working.segments)

    def deadline(self, metric: str) -> datetime | None:
        if self.sla is None or metric not in self.sla.targets or self.unit is None:
            return None
        data = self.working.state.clocks.get(metric)
        clock = SlaClock.from_dict(data) if data else None
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


def message_context(working: Working, step: Step) -> dict[str, Any]:
    ticket, state, event, policy = working.ticket, working.state, working.event, working.policy
    at = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)
    unit = policy.unit(state.team or state.tier)
    clocks = Clocks(working, unit, at)
    requester = ticket.requester
    locale = babel_locale(requester.locale)
    fallback = home_zone(policy)
    customer_zone = zone_of(requester.time_zone, fallback)
    agents_zone = zone_of(None, fallback)
    targets = {metric: humanize(seconds) for metric, seconds in (clocks.sla.targets.items() if clocks.sla else ())}
    organization = ticket.organization
    detail = event.detail
    due = parse_instant(detail["due"]) if isinstance(detail.get("due"), str) else None
    metrics = ("first_response", "next_response", "resolution")
    deadlines = {metric: clocks.deadline(metric) for metric in metrics}
    return {
        "ticket": {
            "id": ticket.id,
            "subject": ticket.subject,
            "description": ticket.description,
            "priority": ticket.priority or "normal",
            "status": ticket.status,
            "tags": list(ticket.tags),
            "channel": ticket.channel or "",
            "url": "",
        },
        "requester": {
            "name": requester.name,
            "first_name": requester.first_name,
            "email": requester.email or "",
            "locale": requester.locale or "",
            "time_zone": requester.time_zone or "",
        },
        "organization": {
            "name": organization.name if organization else "",
            "tags": list(organization.tags) if organization else [],
            "fields": _fields(organization.fields if organization else {}),
        },
        "tier": unit_context(unit),
        "previous_tier": unit_context(step.previous),
        "moved": unit is not None and unit != step.previous,
        "assignee": {"name": ticket.assignee_name or ""},
        "rule": {"id": step.trigger.id},
        "matched": step.matched or "",
        "comment": {
            "body": event.comment.body if event.comment else "",
            "public": event.comment.public if event.comment else False,
        },
        "sla": {metric: targets.get(metric, "") for metric in metrics},
        "deadline": {metric: Moment(deadlines[metric], locale, customer_zone) for metric in metrics},
        "deadline_internal": {metric: Moment(deadlines[metric], babel_locale(None), agents_zone) for metric in metrics},
        "next_update": Moment(next_update(working, step.facts, at), locale, customer_zone),
        "escalation": _latest(policy, working),
        "alert": {
            "metric": str(detail.get("metric", "")).replace("_", " "),
            "percent": round(float(detail.get("fraction", 1.0)) * 100),
            "due": Moment(due, babel_locale(None), agents_zone),
        },
        "notes": list(state.notes),
        "resolution": {"comment": state.last_agent_reply},
        "trail": _trail(policy, state.groups),
        "segments": list(working.segments),
        "bounces": state.bounces,
        "touches": state.touches,
        "incident": {  # a ticket's own messages know only which incident it joined (plugin.incidents tells it)
            "id": state.incident or "",
            "count": "",
            "rule": "",
            "problem_id": "",
            "opened_at": "",
            "customers": [],
            "organizations": [],
            "tickets": [],
        },
        "pause": {
            "count": int(state.pause.get("count", 0)),
            "reason": str(state.pause.get("reason") or "the clocks run: the ticket is not waiting on the customer"),
            "paused_for": humanize(float(state.pause.get("total", 0.0))),
        },
    }
