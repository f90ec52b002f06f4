"""Incidents in a ticket's pass (plugin.processing): what the worker reads before deciding, the detector's
count after, and what a decision that joined or solved an incident sets in motion."""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from escalator.plugin import keys
from escalator.plugin.incidents.service import FLUSH_SECONDS, schedule
from escalator.plugin.incidents.store import IncidentStore
from escalator.plugin.tenancy import TenantContext
from escalator.plugin.timers import TimerStore
from escalator.rules.incident_messages import Member
from escalator.rules.incidents import NO_INCIDENTS, IncidentView
from escalator.rules.model import Ticket
from escalator.rules.plan import Plan


def view(client: redis.Redis, ctx: TenantContext, ticket_id: str) -> IncidentView:
    """The tenant's open incidents as this ticket's decision needs them (no Redis call without incident rules)."""
    if not ctx.policy.incidents:
        return NO_INCIDENTS
    return IncidentStore(client, ctx.name).view(ticket_id)


def member(ticket: Ticket) -> dict[str, str]:
    """Who to tell, remembered when the ticket joins (the bulk notice needs no read of the ticket)."""
    requester = ticket.requester
    return Member(
        ticket_id=ticket.id,
        subject=ticket.subject,
        name=requester.name,
        email=requester.email or "",
        locale=requester.locale or "",
        time_zone=requester.time_zone or "",
        organization=ticket.organization.name if ticket.organization else "",
    ).to_dict()


def detect(
    client: redis.Redis, ctx: TenantContext, ticket: Ticket, plan: Plan, seen: IncidentView
) -> IncidentView | None:
    """Count the ticket's match of each detector whose trigger just fired; when a count reaches its threshold
    (or another worker opened the incident meanwhile) the incidents as they are now, to decide again on:
    the ticket then joins the incident instead of being escalated on its own."""
    if not ctx.policy.incidents:
        return None  # no detector: nothing to count, and no store to build on every decision
    fired = {action.rule for action in plan.actions}
    store = IncidentStore(client, ctx.name)
    now = datetime.now(UTC)
    changed = False
    for rule in ctx.policy.incidents:
        if rule.trigger not in fired or rule.id in seen.open:
            continue
        outcome, incident_id = store.count_match(rule.id, ticket.id, now, rule.within, rule.threshold, member(ticket))
        if outcome == "opened":
            schedule(TimerStore(client, keys.timers(ctx.name)), ctx.name, incident_id, 0.0)
        changed = changed or outcome in ("opened", "open")
    return store.view(ticket.id) if changed else None


def follow_up(client: redis.Redis, ctx: TenantContext, ticket: Ticket, plan: Plan) -> None:
    """A ticket that joined an incident waits (briefly) for the bulk notice; a solved problem ticket starts
    the incident's resolution."""
    if plan.incident is None and plan.incident_solved is None:
        return
    store, timers = IncidentStore(client, ctx.name), TimerStore(client, keys.timers(ctx.name))
    if plan.incident is not None:
        store.join(plan.incident, ticket.id, member(ticket))
        schedule(timers, ctx.name, plan.incident, FLUSH_SECONDS)
    if plan.incident_solved is not None:
        store.resolving(plan.incident_solved)
        schedule(timers, ctx.name, plan.incident_solved, 0.0)
