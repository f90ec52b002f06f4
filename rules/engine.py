"""Pure evaluation: (policy, remembered state, the ticket as it is now, one event) -> state and planned changes.

No I/O. The plugin calls `evaluate` once per event, in order, and writes the merged plan back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from escalator.rules.facts import Facts
from escalator.rules.model import Ticket, TicketEvent, format_instant, parse_instant
from escalator.rules.plan import Plan, PlannedComment
from escalator.rules.policy import Action, Policy, Trigger, Unit, raise_priority
from escalator.rules.sla import SlaClock, crossed, update_clocks
from escalator.rules.state import Escalation, TicketState, instant_key

CLOCK_EVENTS: frozenset[str] = frozenset({"timer.elapsed", "sla.warning", "sla.breached"})
"""Events raised by Escalator's own clocks: they report time passing, never activity on the ticket."""
SLA_EVENTS: frozenset[str] = frozenset({"sla.warning", "sla.breached"})
HISTORY_SOURCE = "backfill"
"""Events `escalator backfill` makes from a ticket's past: they set its anchors and clocks at their real
instants, but fire no rule (what happened before Escalator watched was handled by people then; a keyword
in a month-old description must not send the customer an "I've escalated your issue" today)."""
RECONCILE_SOURCE = "reconcile"
"""Events reconciliation makes for changes whose webhook never arrived."""
WEBHOOK_SOURCE = "webhook"
UPDATED_AT_RESOLUTION = timedelta(seconds=1)
"""Help desks keep a ticket's `updated_at` to the second; a change at 10:00:00.7 has `updated_at` 10:00:00."""


@dataclass
class Decision:
    state: TicketState
    plan: Plan


def segments_of(policy: Policy, ticket: Ticket, state: TicketState, event: TicketEvent) -> tuple[str, ...]:
    facts = Facts(ticket, state, event)
    return tuple(segment.id for segment in policy.segments if segment.condition(facts))


def evaluate(
    policy: Policy, state: TicketState, ticket: Ticket, event: TicketEvent, *, own_change: bool = False
) -> Decision:
    """Decide what this event means for the ticket. `own_change`: the event echoes Escalator's own write,
    so it is recorded (the group trail) but is neither activity nor a reason to fire a rule."""
    state = copy.deepcopy(state)
    quiet = _observation_only(state, event)
    _observe(policy, state, ticket, event, own_change)
    _track_deliveries(state, event)
    plan = Plan()
    segments = segments_of(policy, ticket, state, event)
    clocks = _update_clocks(policy, state, ticket, event, segments, own_change)
    if own_change:
        return Decision(state, plan)
    if quiet is not None:
        if quiet:
            plan.reasons.append(quiet)
        return Decision(state, plan)
    if ticket.status == "closed":
        # Help desks refuse any change to a closed ticket (Zendesk answers 422): nothing to plan.
        plan.reasons.append(f"{event.kind} on a closed ticket: nothing can be changed")
        return Decision(state, plan)
    stale = _stale_sla_event(state, event)
    if stale:
        plan.reasons.append(stale)
        return Decision(state, plan)
    working = _Working(policy, state, ticket, event, segments, plan)
    if event.kind == "timer.elapsed" and event.detail.get("sla"):
        for sla_event in _sla_events(policy, clocks, event):
            if sla_event.kind == "sla.breached":
                _log_sla(state, sla_event.detail["metric"], sla_event.detail["tier"], "breached", event.occurred_at)
            working.event = sla_event
            for trigger in policy.triggers:
                if sla_event.kind in trigger.on:
                    working.fire(trigger)
    else:
        for trigger in policy.triggers:
            if _listens(trigger, event, state):
                working.fire(trigger)
    # The triggers may have moved the ticket to another tier or changed its priority: clocks follow.
    state.clocks = _as_dicts(clocks)
    _update_clocks(policy, state, working.ticket, event, segments, own_change)
    return Decision(state, plan)


def _observation_only(state: TicketState, event: TicketEvent) -> str | None:
    """Why this event may update what Escalator knows but must not fire a rule ('' to say nothing), or None.

    Reconciliation and a late delivery can describe the same change: whichever comes second is observed only,
    so a change is acted on once. A reconciled event is news unless a delivery at or after its instant was
    seen; a delivery is old news when reconciliation already acted on the ticket as of that second."""
    if event.source == HISTORY_SOURCE:
        return ""
    delivered = state.last_webhook_at
    if event.source == RECONCILE_SOURCE and delivered is not None and instant_key(delivered) >= event.occurred_at:
        return f"{event.kind} found by reconciliation had already been delivered: observed only"
    through = state.reconciled_through
    covered = through is not None and event.occurred_at < instant_key(through) + UPDATED_AT_RESOLUTION
    if event.source == WEBHOOK_SOURCE and covered:
        return f"{event.kind} arrived after reconciliation had caught up on it: observed only"
    return None


def _track_deliveries(state: TicketState, event: TicketEvent) -> None:
    if event.source == WEBHOOK_SOURCE:
        state.last_webhook_at = _later(state.last_webhook_at, format_instant(event.occurred_at))
    elif event.source == RECONCILE_SOURCE:
        state.reconciled_through = _later(state.reconciled_through, _reconciled_through(event))


def _reconciled_through(event: TicketEvent) -> str:
    """The ticket's `updated_at` the reconciled event was made from (its own instant if unreadable)."""
    raw = event.detail.get("updated_at")
    try:
        instant = parse_instant(raw) if isinstance(raw, str) else None
    except ValueError:
        instant = None
    return format_instant(instant or event.occurred_at)


def _later(current: str | None, candidate: str) -> str:
    return candidate if current is None or instant_key(candidate) > instant_key(current) else current


def _update_clocks(
    policy: Policy,
    state: TicketState,
    ticket: Ticket,
    event: TicketEvent,
    segments: tuple[str, ...],
    own_change: bool,
) -> dict[str, SlaClock]:
    before = {metric: SlaClock.from_dict(data) for metric, data in state.clocks.items()}
    clocks = update_clocks(
        policy,
        {metric: SlaClock.from_dict(data) for metric, data in state.clocks.items()},
        state.team or state.tier,
        ticket,
        event,
        segments,
        tier_entered=state.anchors.get("tier_entered"),
        own_change=own_change,
    )
    for metric, clock in clocks.items():
        earlier = before.get(metric)
        newly_done = clock.done_at is not None and (earlier is None or earlier.done_at is None)
        # A breached clock was logged when it breached; one fulfilled by imported history was not measured.
        if newly_done and 1.0 not in clock.alerted and event.source != HISTORY_SOURCE:
            _log_sla(state, metric, clock.unit, "met", event.occurred_at)
    state.clocks = _as_dicts(clocks)
    return clocks


SLA_LOG_LENGTH = 50


def _log_sla(state: TicketState, metric: str, unit: str, outcome: str, at: datetime) -> None:
    state.sla_log.append({"metric": metric, "unit": unit, "outcome": outcome, "at": format_instant(at)})
    del state.sla_log[:-SLA_LOG_LENGTH]


def _as_dicts(clocks: dict[str, SlaClock]) -> dict[str, dict[str, Any]]:
    return {metric: clock.to_dict() for metric, clock in clocks.items()}


def _sla_events(policy: Policy, clocks: dict[str, SlaClock], timer: TicketEvent) -> list[TicketEvent]:
    """The warnings and breaches an SLA timer stands for, re-checked against the clocks as they are now:
    a clock paused or fulfilled since the timer was armed raises nothing."""
    return [
        TicketEvent(
            delivery_id=f"{timer.delivery_id}/{clock.metric}/{fraction:g}",
            kind="sla.breached" if fraction >= 1.0 else "sla.warning",
            ticket_id=timer.ticket_id,
            occurred_at=timer.occurred_at,
            source="timer",
            detail={
                "metric": clock.metric,
                "tier": clock.unit,
                "fraction": fraction,
                "due": format_instant(timer.occurred_at),
            },
        )
        for clock, fraction in crossed(policy, clocks, timer.occurred_at)
    ]


def _stale_sla_event(state: TicketState, event: TicketEvent) -> str | None:
    """An SLA clock belongs to the tier it runs for; once the ticket has left that tier the alarm is stale."""
    tier = event.detail.get("tier")
    current = state.team or state.tier
    if event.kind in SLA_EVENTS and tier is not None and current is not None and tier != current:
        return f"{event.kind} for {tier} ignored: the ticket is now in {current}"
    return None


def _anchor_value(event: TicketEvent) -> str | None:
    """The anchor instant a timer was armed for, in the engine's own form (None when missing or unreadable)."""
    raw = event.detail.get("anchor_value")
    try:
        instant = parse_instant(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return format_instant(instant) if instant else None


def _listens(trigger: Trigger, event: TicketEvent, state: TicketState) -> bool:
    if event.kind != "timer.elapsed":
        return event.kind in trigger.on
    if trigger.after is None or event.detail.get("trigger") != trigger.id:
        return False
    anchor_value = _anchor_value(event)
    current = state.anchors.get(trigger.since or "updated")
    # Fire once per anchor value, and only if the anchor has not moved since the timer was armed.
    return (
        anchor_value is not None
        and current is not None
        and instant_key(current) == instant_key(anchor_value)
        and state.fired.get(trigger.id) != anchor_value
    )


def _observe(policy: Policy, state: TicketState, ticket: Ticket, event: TicketEvent, own_change: bool) -> None:
    """Bring the remembered state up to date with the ticket as it is now and with what the event says."""
    at = format_instant(event.occurred_at)
    newer = state.last_event_at is None or instant_key(at) >= instant_key(state.last_event_at)
    if newer:
        state.last_event_at = at
    unit = policy.unit_for_group(ticket.group_name, ticket.group_id)
    state.anchors.setdefault("created", format_instant(ticket.created_at or event.occurred_at))
    if state.tier is None and state.team is None and not state.groups and unit is None:
        # First sight of the ticket (whatever the event): new tickets start in the first tier. A late or
        # repeated `ticket.created` must not send an escalated ticket back there, hence "first sight".
        state.tier = policy.tiers[0].id
        state.enter_group(policy.tiers[0].id)
        state.anchors.setdefault("tier_entered", state.anchors["created"])
    if unit is not None:
        state.enter_group(unit.id)
        if unit.id != (state.team or state.tier):
            state.tier, state.team = (unit.id, None) if unit.kind == "tier" else (state.tier, unit.id)
            _move_anchor(state, "tier_entered", at)
    elif ticket.group_id is not None:
        state.enter_group(f"group:{ticket.group_id}")
    if newer:
        if state.status is not None and ticket.status != state.status:
            _move_anchor(state, "status_changed", at)
            if ticket.status == "solved":
                state.anchors["solved"] = at  # for the "resolution time of escalated tickets" KPI
        state.status, state.priority, state.assignee = ticket.status, ticket.priority, ticket.assignee_id
    if own_change or event.source == "timer" or event.kind in CLOCK_EVENTS:
        return
    state.checked.clear()  # something happened: elapsed triggers that were due but false get another look
    _move_anchor(state, "updated", at)
    if "assignee" in event.changes:
        _move_anchor(state, "assigned", at)
    comment = event.comment
    if comment is not None:
        if comment.author == "agent":
            state.touches += 1
            _move_anchor(state, "agent_update", at)
            if comment.public:
                _move_anchor(state, "public_reply", at)
        else:
            _move_anchor(state, "requester_update", at)


def _move_anchor(state: TicketState, anchor: str, at: str) -> None:
    # Anchors only move forward, so a late, out-of-order delivery never rewinds a clock. Compared as
    # instants, not strings: `10:00:00.5Z` sorts before `10:00:00Z` as text.
    current = state.anchors.get(anchor)
    if current is None or instant_key(current) < instant_key(at):
        state.anchors[anchor] = at


def humanize(seconds: float) -> str:
    """`1800` -> `30 minutes`, `5400` -> `1 hour 30 minutes`, for customer-facing timeframes."""
    if seconds < 60:
        whole = round(seconds)
        return f"{whole} second{'s' * (whole != 1)}"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    if minutes:
        parts.append(f"{minutes} minute{'s' * (minutes != 1)}")
    return " ".join(parts)


class _Working:
    """The ticket as the triggers fired so far would leave it, so later triggers see earlier effects."""

    def __init__(
        self,
        policy: Policy,
        state: TicketState,
        ticket: Ticket,
        event: TicketEvent,
        segments: tuple[str, ...],
        plan: Plan,
    ) -> None:
        self.policy, self.state, self.ticket, self.event = policy, state, ticket, event
        self.segments, self.plan = segments, plan
        self.routed_by: str | None = None

    def fire(self, trigger: Trigger) -> None:
        facts = Facts(self.ticket, self.state, self.event, self.segments)
        anchor_value = _anchor_value(self.event) if self.event.kind == "timer.elapsed" else None
        if not trigger.condition(facts):
            if anchor_value is not None:
                self.state.checked[trigger.id] = anchor_value  # due, but not now: look again after activity
            return
        matched = facts.matched[0] if facts.matched else None
        if anchor_value is not None:
            self.state.fired[trigger.id] = anchor_value
        step = _Step(trigger, matched, self.policy.unit(self.state.team or self.state.tier))
        for index, action in enumerate(trigger.actions):
            if not ACTIONS[action.kind](self, step, action, index):
                return  # an escalation was held back: what the trigger does after it assumes the move

    def _escalate(self, step: _Step, action: Action, _index: int) -> bool:
        trigger, matched = step.trigger, step.matched
        current = self.state.team or self.state.tier
        if self.routed_by is not None:
            # One event routes a ticket once: the first matching trigger in file order wins.
            self.plan.reasons.append(f"{trigger.id}: held back, already routed by {self.routed_by}")
            return False
        if action.to == "next":
            target = None if self.state.team else self.policy.next_tier(self.state.tier)
        else:
            target = self.policy.unit(action.to)
        if target is None:
            self.plan.reasons.append(f"{trigger.id}: held back, no tier above {current}")
            return False
        if target.id == current:
            self.plan.reasons.append(f"{trigger.id}: held back, already in {target.id}")
            return False
        if self._below_current(target):
            self.plan.reasons.append(f"{trigger.id}: held back, {current} is above {target.id}")
            return False
        if target.id in self.state.groups and self.state.bounces >= self.policy.max_bounces:
            self.plan.reasons.append(
                f"{trigger.id}: held back, {target.id} already had this ticket ({self.state.bounces} bounces)"
            )
            return False
        at = format_instant(self.event.occurred_at)
        self.state.escalations.append(Escalation(at, current, target.id, trigger.id, matched))
        self.state.enter_group(target.id)
        if target.kind == "tier":
            self.state.tier, self.state.team = target.id, None
        else:
            self.state.team = target.id
        _move_anchor(self.state, "escalated", at)
        _move_anchor(self.state, "tier_entered", at)
        self.plan.unit = target
        self.routed_by = trigger.id
        self.ticket = replace(self.ticket, group_name=str(target.group))
        why = f" (matched '{matched}')" if matched else ""
        self.plan.reasons.append(f"{trigger.id}: escalate {current} -> {target.id}{why}")
        return True

    def _below_current(self, target: Unit) -> bool:
        """Escalation climbs the tier ladder; a keyword seen again on an L3 ticket must not send it down to L2."""
        if target.kind != "tier" or self.state.team is not None:
            return False
        ladder = [tier.id for tier in self.policy.tiers]
        return self.state.tier in ladder and ladder.index(target.id) < ladder.index(self.state.tier)

    def _set_priority(self, step: _Step, action: Action, _index: int) -> bool:
        value = raise_priority(self.ticket.priority) if action.value == "+1" else action.value
        if value == self.ticket.priority:
            return True
        self.plan.priority = value
        self.plan.reasons.append(f"{step.trigger.id}: priority {self.ticket.priority} -> {value}")
        self.ticket = replace(self.ticket, priority=value)
        return True

    def _assign(self, step: _Step, action: Action, _index: int) -> bool:
        self.plan.assignee = action.to
        self.ticket = replace(self.ticket, assignee_id=action.to)
        self.plan.reasons.append(f"{step.trigger.id}: assign to {action.to}")
        return True

    def _tags(self, step: _Step, action: Action, _index: int) -> bool:
        tags = list(self.ticket.tags)
        if action.kind == "add_tags":
            self.plan.add_tags += [tag for tag in action.tags if tag not in tags and tag not in self.plan.add_tags]
            tags += [tag for tag in action.tags if tag not in tags]
        else:
            self.plan.remove_tags += [tag for tag in action.tags if tag in tags]
            tags = [tag for tag in tags if tag not in action.tags]
        self.ticket = replace(self.ticket, tags=tuple(tags))
        self.plan.reasons.append(f"{step.trigger.id}: {action.kind.replace('_', ' ')} {', '.join(action.tags)}")
        return True

    def _comment(self, step: _Step, action: Action, index: int) -> bool:
        trigger = step.trigger
        assert action.template is not None
        template = self.policy.templates[action.template]
        context = self._message_context(trigger, step.matched, step.previous)
        body = template.render(context, self.ticket.requester.locale)
        key = f"{self.event.delivery_id}/{trigger.id}/{index}"
        self.plan.comments.append(PlannedComment(key, body, action.kind == "reply", trigger.id))
        if action.kind == "reply":
            _move_anchor(self.state, "public_reply", format_instant(self.event.occurred_at))
        self.plan.reasons.append(f"{trigger.id}: {action.kind} '{action.template}'")
        return True

    def _message_context(self, trigger: Trigger, matched: str | None, previous: Unit | None) -> dict[str, Any]:
        ticket, state = self.ticket, self.state
        unit = self.policy.unit(state.team or state.tier)
        sla = self.policy.sla_for(unit.id if unit else None, ticket.priority, self.segments)
        targets = {metric: humanize(seconds) for metric, seconds in (sla.targets.items() if sla else ())}
        organization = ticket.organization
        last = state.escalations[-1] if state.escalations else None
        detail = self.event.detail
        return {
            "ticket": {
                "id": ticket.id,
                "subject": ticket.subject,
                "description": ticket.description,
                "priority": ticket.priority or "normal",
                "status": ticket.status,
                "tags": list(ticket.tags),
                "channel": ticket.channel,
                "url": "",
            },
            "requester": {
                "name": ticket.requester.name or "there",
                "first_name": ticket.requester.first_name,
                "email": ticket.requester.email or "",
                "locale": ticket.requester.locale or "",
            },
            "organization": {
                "name": organization.name if organization else "",
                "tags": list(organization.tags) if organization else [],
            },
            "tier": _unit_context(unit),
            "previous_tier": _unit_context(previous),
            "rule": {"id": trigger.id},
            "matched": matched or "",
            "comment": {
                "body": self.event.comment.body if self.event.comment else "",
                "public": self.event.comment.public if self.event.comment else False,
            },
            "sla": {metric: targets.get(metric, "") for metric in ("first_response", "next_response", "resolution")},
            "escalation": {
                "count": len(state.escalations),
                "source": last.source if last else "",
                "target": last.target if last else "",
            },
            "alert": {
                "metric": str(detail.get("metric", "")).replace("_", " "),
                "percent": round(float(detail.get("fraction", 1.0)) * 100),
                "due": detail.get("due", ""),
            },
            "segments": list(self.segments),
            "bounces": state.bounces,
            "touches": state.touches,
        }


def _unit_context(unit: Unit | None) -> dict[str, str]:
    return {"id": unit.id, "name": unit.name} if unit else {"id": "", "name": "support"}


@dataclass(frozen=True)
class _Step:
    """What every action of one firing trigger shares."""

    trigger: Trigger
    matched: str | None
    """The admin's phrase a `contains_any` condition matched, for reasons, templates and the audit trail."""
    previous: Unit | None
    """Where the ticket sat before this trigger acted (the handoff note's "from")."""


ActionHandler = Callable[[_Working, _Step, Action, int], bool]
"""Carry out one action; False stops the trigger's remaining actions (a held-back escalation)."""

ACTIONS: dict[str, ActionHandler] = {
    "escalate": _Working._escalate,
    "set_priority": _Working._set_priority,
    "reply": _Working._comment,
    "note": _Working._comment,
    "assign": _Working._assign,
    "add_tags": _Working._tags,
    "remove_tags": _Working._tags,
}
"""Every action kind a rules file may use; the schema's action enum is checked against this table by a test."""
