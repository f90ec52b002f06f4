"""Pure evaluation: (policy, remembered state, the ticket as it is now, one event) -> state and planned changes.

No I/O. The worker folds a ticket's events through `evaluate` in order (rules.fold) and writes the merged
plan back. One evaluation: observe what the event says (rules.observe), bring the SLA clocks up to date
(rules.sla), fire the triggers listening for the event (rules.actions), then the triggers listening for what
the event caused: an agent's escalation (`ticket.escalated`), a return to a group the ticket left
(`ticket.bounced`). SLA timers become `sla.warning` / `sla.breached` here, re-checked against the clocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalator.rules.actions import ACTIONS, Working
from escalator.rules.durations import humanize
from escalator.rules.facts import Facts
from escalator.rules.incidents import NO_INCIDENTS, IncidentView
from escalator.rules.model import Ticket, TicketEvent, canonical_instant, format_instant, revised
from escalator.rules.observe import (
    CLOCK_EVENTS,
    HISTORY_SOURCE,
    RECONCILE_SOURCE,
    UPDATED_AT_RESOLUTION,
    WEBHOOK_SOURCE,
    observation_only,
    observe,
    track_deliveries,
)
from escalator.rules.pausing import rules_for, update_pause
from escalator.rules.plan import Plan
from escalator.rules.policy import Policy, Trigger
from escalator.rules.sla import SlaClock, crossed, deadline_of, update_clocks
from escalator.rules.state import TicketState, instant_key

__all__ = [
    "ACTIONS",
    "CLOCK_EVENTS",
    "HISTORY_SOURCE",
    "RECONCILE_SOURCE",
    "UPDATED_AT_RESOLUTION",
    "WEBHOOK_SOURCE",
    "Decision",
    "evaluate",
    "humanize",
    "segments_of",
]

SLA_EVENTS: frozenset[str] = frozenset({"sla.warning", "sla.breached"})
SLA_LOG_LENGTH = 50


@dataclass
class Decision:
    state: TicketState
    plan: Plan


def segments_of(
    policy: Policy,
    ticket: Ticket,
    state: TicketState,
    event: TicketEvent,
    history: Mapping[str, int] | None = None,
) -> tuple[str, ...]:
    """The segments the ticket is in. When they read the ticket and the history facts only (the usual case:
    organization tags and fields, critical tickets), the last answer is kept for the same ticket object and
    facts: a decision and the timer schedule after it ask for the same ticket's segments several times."""
    known = history or {}
    if not policy.segments_follow_ticket:
        return _segments(policy, ticket, state, event, known)
    last = _last_segments
    if last is not None and last[0] is policy and last[1] is ticket and last[2] == known:
        return last[3]
    found = _segments(policy, ticket, state, event, known)
    _remember_segments((policy, ticket, dict(known), found))
    return found


_last_segments: tuple[Policy, Ticket, dict[str, int], tuple[str, ...]] | None = None
"""(policy, ticket, history facts, segments): one entry, replaced whole (threads read a consistent tuple)."""


def _remember_segments(entry: tuple[Policy, Ticket, dict[str, int], tuple[str, ...]]) -> None:
    global _last_segments
    _last_segments = entry


def _segments(
    policy: Policy, ticket: Ticket, state: TicketState, event: TicketEvent, history: Mapping[str, int]
) -> tuple[str, ...]:
    facts = Facts(ticket, state, event, history=history)
    return tuple(segment.id for segment in policy.segments if segment.condition(facts))


def evaluate(
    policy: Policy,
    state: TicketState,
    ticket: Ticket,
    event: TicketEvent,
    *,
    own_change: bool = False,
    history: Mapping[str, int] | None = None,
    incidents: IncidentView = NO_INCIDENTS,
) -> Decision:
    """Decide what this event means for the ticket. `own_change`: the event echoes Escalator's own write,
    so it is recorded (the group trail) but is neither activity nor a reason to fire a rule. `history`: the
    history facts of the ticket's organization and requester (rules.facts.HISTORY_FIELDS); `incidents`: the
    tenant's open incidents (rules.incidents)."""
    state = state.copy()
    facts_history = dict(history or {})
    quiet = observation_only(state, event)
    derived = observe(policy, state, ticket, event, own_change)
    track_deliveries(state, event)
    plan = Plan()
    segments = segments_of(policy, ticket, state, event, facts_history)
    pausing = rules_for(policy, state.team or state.tier, ticket, segments)
    derived += update_pause(state, ticket, event.occurred_at, pausing)
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
    if incidents.problem_of is not None:
        return Decision(state, _problem_plan(incidents.problem_of, state, event))
    if incidents.member_of is not None and state.incident is None:
        state.incident = incidents.member_of  # told by the incident: its rules may leave the messages to it
    stale = _stale_sla_event(state, event)
    if stale:
        plan.reasons.append(stale)
        return Decision(state, plan)
    working = Working(policy, state, ticket, event, segments, plan, facts_history, incidents)
    clocks_read = _clock_inputs(state, ticket)
    sla_timer = event.kind == "timer.elapsed" and event.detail.get("sla")
    if sla_timer:
        for sla_event in _sla_events(policy, clocks, event):
            if sla_event.kind == "sla.breached":
                _log_sla(state, sla_event.detail["metric"], sla_event.detail["tier"], "breached", event.occurred_at)
            working.event = sla_event
            _fire_all(policy, working, sla_event.kind)
    else:
        anchor_value = _anchor_value(event) if event.kind == "timer.elapsed" else None
        listening = policy.timed_triggers if event.kind == "timer.elapsed" else policy.listening(event.kind)
        for trigger in listening:
            if _listens(trigger, event, state, anchor_value):
                working.fire(trigger, anchor_value)
    _consequences(policy, working, event, derived)
    # The triggers may have moved the ticket to another tier or changed its priority: clocks follow (the
    # clocks as the SLA events left them, used up here rather than written out and read back). Brought up to
    # date with what they read unchanged, clocks stay as they are: only the SLA events' marks need writing.
    if sla_timer or _clock_inputs(state, working.ticket) != clocks_read:
        _update_clocks(policy, state, working.ticket, event, segments, own_change, clocks)
    return Decision(state, plan)


def _clock_inputs(state: TicketState, ticket: Ticket) -> tuple[object, ...]:
    """What `_update_clocks` reads besides the event and the segments (both fixed for one evaluation)."""
    return (state.team or state.tier, ticket, state.anchors.get("tier_entered"), state.pause.get("honored_since"))


def _problem_plan(incident: str, state: TicketState, event: TicketEvent) -> Plan:
    """An incident's problem ticket is the incident's own: no rule fires on it (its customer is Escalator),
    and solving it resolves the incident, whose tickets then hear the resolution."""
    plan = Plan()
    if event.kind == "ticket.solved" or (state.status == "solved" and "status" in event.changes):
        plan.incident_solved = incident
        plan.reasons.append(f"problem ticket of incident {incident} solved: its tickets get the resolution")
    else:
        plan.reasons.append(f"problem ticket of incident {incident}: no rule fires on it")
    return plan


MAX_CONSEQUENCES = 6
"""Derived events one evaluation may raise (a move, its bounce, the move to the leads, their escalations)."""


def _consequences(policy: Policy, working: Working, event: TicketEvent, observed: list[str]) -> None:
    """Fire the triggers listening for what happened: an escalation or a bounce seen in the ticket (an
    agent's move), then for what the rules' own moves caused. Each step may move the ticket once more
    (a bounce goes to the leads), and every move up raises `ticket.escalated` for the rules that tag,
    notify or add owners."""
    queue = list(observed)
    if working.routed_by is not None:
        queue.append("ticket.escalated")
    if working.bounced:
        queue.append("ticket.bounced")
    working.bounced = False
    raised = 0
    while queue and raised < MAX_CONSEQUENCES:
        kind = queue.pop(0)
        raised += 1
        working.event = _derived(event, kind)
        working.routed_by = None  # what an event caused may move the ticket once more (a bounce to the leads)
        _fire_all(policy, working, kind)
        if working.routed_by is not None and kind != "ticket.escalated":
            queue.append("ticket.escalated")
        if working.bounced:
            queue.append("ticket.bounced")
            working.bounced = False


def _fire_all(policy: Policy, working: Working, kind: str) -> None:
    for trigger in policy.listening(kind):
        working.fire(trigger)


def _derived(event: TicketEvent, kind: str) -> TicketEvent:
    """An event the engine derives from `event` (a bounce, a breach): the same facts under its own kind."""
    return revised(event, delivery_id=f"{event.delivery_id}/{kind}", kind=kind, snapshot=None)


def _update_clocks(
    policy: Policy,
    state: TicketState,
    ticket: Ticket,
    event: TicketEvent,
    segments: tuple[str, ...],
    own_change: bool,
    current: dict[str, SlaClock] | None = None,
) -> dict[str, SlaClock]:
    """Bring the clocks (`current`, changed in place; default: the state's) up to date and write them to the
    state."""
    if current is None:
        current = {metric: SlaClock.from_dict(data) for metric, data in state.clocks.items()}
    done_before = {metric: clock.done_at for metric, clock in current.items()}  # update_clocks changes them
    clocks = update_clocks(
        policy,
        current,
        state.team or state.tier,
        ticket,
        event,
        segments,
        tier_entered=state.anchors.get("tier_entered"),
        own_change=own_change,
        pause_honored=state.pause.get("honored_since") is not None,  # PauseState.honored, without building one
    )
    for metric, clock in clocks.items():
        newly_done = clock.done_at is not None and done_before.get(metric) is None
        # A breached clock was logged when it breached; one fulfilled by imported history was not measured.
        if newly_done and 1.0 not in clock.alerted and event.source != HISTORY_SOURCE:
            _log_sla(state, metric, clock.unit, "met", event.occurred_at)
    state.clocks = _as_dicts(clocks)
    return clocks


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
                # The deadline itself (not the moment a warning fires): what the warning note must say.
                "due": format_instant(deadline_of(policy, clock) or timer.occurred_at),
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
    return canonical_instant(event.detail.get("anchor_value"))


def _listens(trigger: Trigger, event: TicketEvent, state: TicketState, anchor_value: str | None) -> bool:
    """`anchor_value`: a timer event's anchor (`_anchor_value`), read once per event, not per trigger."""
    if event.kind != "timer.elapsed":
        return event.kind in trigger.on
    if event.detail.get("trigger") != trigger.id:
        return False
    current = state.anchors.get(trigger.since or "updated")
    # Fire once per anchor value, and only if the anchor has not moved since the timer was armed.
    return (
        anchor_value is not None
        and current is not None
        and instant_key(current) == instant_key(anchor_value)
        and state.fired.get(trigger.id) != anchor_value
    )
