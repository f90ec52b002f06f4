"""What an event tells Escalator about a ticket, before any rule fires: where it sits, who moved it, who
worked on it, and when things happened (the anchors elapsed-time triggers count from).

A move between tiers and teams that Escalator did not make is a person's: at creation it is routing, up the
ladder or into a team an escalation by that agent (its reason: their latest internal note), down the ladder
a de-escalation. A return to a group the ticket already left is a bounce, whoever made it. Each such move
may raise a derived event (`ticket.escalated`, `ticket.bounced`) that rules listen for.
"""

from __future__ import annotations

from datetime import timedelta

from escalator.rules.facts import ACTIVE_STATUSES
from escalator.rules.model import Ticket, TicketEvent, canonical_instant, format_instant
from escalator.rules.policy import Policy, Unit
from escalator.rules.state import Escalation, TicketState, instant_key

CLOCK_EVENTS: frozenset[str] = frozenset({"timer.elapsed", "sla.warning", "sla.breached"})
"""Events raised by Escalator's own clocks: they report time passing, never activity on the ticket."""
HISTORY_SOURCE = "backfill"
"""Events `escalator backfill` makes from a ticket's past: they set its anchors and clocks at their real
instants, but fire no rule (what happened before Escalator watched was handled by people then; a keyword
in a month-old description must not send the customer an "I've escalated your issue" today)."""
RECONCILE_SOURCE = "reconcile"
"""Events reconciliation makes for changes whose webhook never arrived."""
WEBHOOK_SOURCE = "webhook"
UPDATED_AT_RESOLUTION = timedelta(seconds=1)
"""Help desks keep a ticket's `updated_at` to the second; a change at 10:00:00.7 has `updated_at` 10:00:00."""


def observation_only(state: TicketState, event: TicketEvent) -> str | None:
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


def track_deliveries(state: TicketState, event: TicketEvent) -> None:
    if event.source == WEBHOOK_SOURCE:
        state.last_webhook_at = _later(state.last_webhook_at, format_instant(event.occurred_at))
    elif event.source == RECONCILE_SOURCE:
        state.reconciled_through = _later(state.reconciled_through, _reconciled_through(event))


def _reconciled_through(event: TicketEvent) -> str:
    """The ticket's `updated_at` the reconciled event was made from (its own instant if unreadable)."""
    return canonical_instant(event.detail.get("updated_at")) or format_instant(event.occurred_at)


def _later(current: str | None, candidate: str) -> str:
    return candidate if current is None or instant_key(candidate) > instant_key(current) else current


def move_anchor(state: TicketState, anchor: str, at: str) -> None:
    # Anchors only move forward, so a late, out-of-order delivery never rewinds a clock. Compared as
    # instants, not strings: `10:00:00.5Z` sorts before `10:00:00Z` as text.
    current = state.anchors.get(anchor)
    if current is None or instant_key(current) < instant_key(at):
        state.anchors[anchor] = at


def observe(policy: Policy, state: TicketState, ticket: Ticket, event: TicketEvent, own_change: bool) -> list[str]:
    """Bring the remembered state up to date with the ticket as it is now and with what the event says;
    returns the derived events this observation raises (`ticket.escalated`, `ticket.bounced`)."""
    at = format_instant(event.occurred_at)
    newer = state.last_event_at is None or instant_key(at) >= instant_key(state.last_event_at)
    if newer:
        state.last_event_at = at
    first_sight = state.tier is None and state.team is None and not state.groups
    state.anchors.setdefault("created", format_instant(ticket.created_at or event.occurred_at))
    derived = _placement(policy, state, ticket, event, own_change, first_sight, at)
    if newer:
        if state.status is not None and ticket.status != state.status:
            move_anchor(state, "status_changed", at)
            if ticket.status == "solved":
                state.anchors["solved"] = at  # for the "resolution time of escalated tickets" KPI
            if _by_agent(event, ticket, own_change):
                move_anchor(state, "agent_activity", at)
                state.touched_by(event.actor_id)
            elif ticket.status in ACTIVE_STATUSES and state.status not in ACTIVE_STATUSES:
                move_anchor(state, "agent_activity", at)  # back in our court: the team's silence counts from now
        state.status, state.priority, state.assignee = ticket.status, ticket.priority, ticket.assignee_id
        state.requester_id = ticket.requester.id
        state.organization_id = ticket.organization.id if ticket.organization else None
    if own_change or event.source == "timer" or event.kind in CLOCK_EVENTS:
        return derived
    state.checked.clear()  # something happened: elapsed triggers that were due but false get another look
    move_anchor(state, "updated", at)
    if "assignee" in event.changes:
        move_anchor(state, "assigned", at)
    _comment(state, event, at)
    return derived


def _comment(state: TicketState, event: TicketEvent, at: str) -> None:
    comment = event.comment
    if comment is None:
        return
    if comment.author != "agent":
        move_anchor(state, "requester_update", at)
        return
    state.touched_by(comment.author_id or event.actor_id)
    move_anchor(state, "agent_update", at)
    move_anchor(state, "agent_activity", at)
    if comment.public:
        move_anchor(state, "public_reply", at)
        move_anchor(state, "agent_reply", at)
        state.last_agent_reply = " ".join(comment.body.split())[:1000]
    else:
        state.remember_note(comment.body)


def _by_agent(event: TicketEvent, ticket: Ticket, own_change: bool) -> bool:
    """A change made by a person on the help desk's side (not the requester, not Escalator, not a timer)."""
    if own_change or event.source in ("timer", HISTORY_SOURCE) or event.kind in CLOCK_EVENTS:
        return False
    if event.comment is not None and event.comment.author == "requester":
        return False
    return event.actor_id is not None and event.actor_id != ticket.requester.id


def _placement(
    policy: Policy,
    state: TicketState,
    ticket: Ticket,
    event: TicketEvent,
    own_change: bool,
    first_sight: bool,
    at: str,
) -> list[str]:
    """Where the ticket sits now, and what moving it there means (routing, escalation, de-escalation)."""
    unit = policy.unit_for_group(ticket.group_name, ticket.group_id)
    if first_sight and (unit is None or unit.id == policy.tiers[0].id):
        # New tickets start in the first tier. A late or repeated `ticket.created` must not send an escalated
        # ticket back there, hence "first sight".
        state.tier = policy.tiers[0].id
        state.enter_group(policy.tiers[0].id)
        state.anchors.setdefault("tier_entered", state.anchors["created"])
        state.anchors.setdefault("agent_activity", state.anchors["created"])
        if unit is None and ticket.group_id is not None:
            state.enter_group(f"group:{ticket.group_id}")  # a group no tier or team owns: in the trail only
        return []
    if unit is None:
        if ticket.group_id is not None and state.enter_group(f"group:{ticket.group_id}"):
            return ["ticket.bounced"]
        return []
    current = state.team or state.tier
    # A lead handing the ticket on is the decision a bounce asks for, not another bounce.
    from_lead = (policy.unit(current) or unit).kind == "lead"
    bounced = state.enter_group(unit.id, may_bounce=not from_lead)
    if unit.id == current:
        return ["ticket.bounced"] if bounced else []
    source = current
    settle_in(state, unit)
    move_anchor(state, "tier_entered", at)
    move_anchor(state, "agent_activity", at)  # idle counts from when the new tier got the ticket
    derived = ["ticket.bounced"] if bounced else []
    if own_change or event.source == HISTORY_SOURCE:
        return derived  # our own move (recorded when we planned it), or history we only observe
    direction = "route" if first_sight else direction_of(policy, source, unit)
    by_agent = _by_agent(event, ticket, own_change)
    state.escalations.append(
        Escalation(
            at=at,
            source=source,
            target=unit.id,
            rule="",
            by="agent",
            reason=state.notes[-1] if state.notes and direction == "up" else None,
            actor=event.actor_id if by_agent else None,
            direction=direction,
        )
    )
    if by_agent:
        state.touched_by(event.actor_id)
        move_anchor(state, "agent_activity", at)
    if direction == "route":
        state.routed = True
        move_anchor(state, "escalated", at)
    elif direction == "up":
        move_anchor(state, "escalated", at)
        state.owner = event.actor_id if by_agent else state.owner
        derived.insert(0, "ticket.escalated")
    return derived


def settle_in(state: TicketState, unit: Unit) -> None:
    """The ticket is now in `unit`: a tier replaces the tier and leaves any team; a team is added on top."""
    if unit.kind == "tier":
        state.tier, state.team = unit.id, None
    else:
        state.team = unit.id


def direction_of(policy: Policy, source: str | None, target: Unit) -> str:
    """Up the ladder, into a team or to the leads: an escalation; down the ladder or out of a team: not."""
    if target.kind in ("team", "lead"):
        return "up"
    here, there = policy.rank(source), policy.rank(target.id)
    if here is None:
        return "down"  # from a team or the leads back to a tier
    return "up" if there is not None and there > here else "down"
