"""What a finished decision leaves behind besides the ticket's state: the journal entry agents and admins read
(`escalator why`, the sidebar), the operational counters, the KPI aggregates (rules.kpi), the requester's and
organization's history of critical issues, and the timers the new state needs.

Pure: these build the `Finish` the queue writes in one step with the state (plugin.queue.EventQueue.finish).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime

from escalator.plugin import keys
from escalator.plugin.clock import timer_key
from escalator.plugin.keys import KPI_DAYS_KEPT
from escalator.plugin.processing import HISTORY_SECONDS, Outcome
from escalator.plugin.prometheus import WRITEBACK_LATENCY
from escalator.plugin.queue import Finish, Op
from escalator.rules.kpi import critical, kpi_changes
from escalator.rules.model import format_instant
from escalator.rules.policy import Policy
from escalator.rules.schedule import desired_timers
from escalator.rules.state import TicketState


def journal_entry(outcome: Outcome) -> str:
    """One decision, JSON: when, which events it covered, every rule that fired or was held back and why."""
    if not outcome.plan.reasons:
        return ""
    return json.dumps(
        {
            "at": time.time(),
            "decided_at": outcome.decided_at,
            "events": [[event.kind, format_instant(event.occurred_at)] for event in outcome.events],
            "reasons": outcome.plan.reasons,
            "writes": outcome.writes,
        }
    )


def counters(outcome: Outcome, before: TicketState | None = None, now: datetime | None = None) -> dict[str, int]:
    """The operational counters one pass adds (plugin.prometheus reads them): what was done, the SLA clocks
    it finished (the same count the KPI aggregates keep, so both agree), and, for a pass that wrote, the time
    from the oldest help-desk event it covered to `now` (the write-back landed) as a histogram bucket."""
    counts = {
        "events": outcome.consumed,
        "writes": outcome.writes,
        "escalations": 1 if outcome.plan.unit else 0,
        "replies": sum(comment.public for comment in outcome.plan.comments),
        "notes": sum(not comment.public for comment in outcome.plan.comments),
        "dead_letters": len(outcome.dead),
    }
    if before is not None:
        imported = bool(outcome.events) and all(event.source == "backfill" for event in outcome.events)
        for (_, name), n in kpi_changes(before, outcome.state, observed_only=imported).counts.items():
            if name.startswith("sla:"):
                counts[name] = counts.get(name, 0) + n
    webhooks = [event.occurred_at for event in outcome.events if event.source == "webhook"]
    if now is not None and outcome.writes and webhooks:
        counts.update(WRITEBACK_LATENCY.observe((now - min(webhooks)).total_seconds()))
    return counts


def timer_changes(
    tenant: str, ticket_id: str, armed: Mapping[str, str], desired: Mapping[str, datetime]
) -> tuple[dict[str, str], list[tuple[str, float]], list[str]]:
    """(the new name -> key map, the timers to arm or move, the keys to cancel)."""
    wanted = {name: timer_key(tenant, ticket_id, name) for name in desired}
    arm = [(wanted[name], due.timestamp()) for name, due in desired.items()]
    cancel = [key for name, key in armed.items() if wanted.get(name) != key]
    return wanted, arm, cancel


def kpi_ops(tenant: str, before: TicketState, after: TicketState, observed_only: bool = False) -> list[Op]:
    changes = kpi_changes(before, after, observed_only=observed_only)
    ttl = KPI_DAYS_KEPT * 24 * 3600
    ops = [Op("H", keys.kpi_day(tenant, day), name, n) for (day, name), n in sorted(changes.counts.items())]
    for day, series, hours in changes.values:
        ops += [Op("L", keys.kpi_values(tenant, day, series), hours), Op("S", keys.kpi_series(tenant, day), series)]
        ops += [Op("X", keys.kpi_values(tenant, day, series), ttl), Op("X", keys.kpi_series(tenant, day), ttl)]
    ops += [Op("X", key, ttl) for key in sorted({keys.kpi_day(tenant, day) for day, _ in changes.counts})]
    return ops


def history_ops(tenant: str, ticket_id: str, before: TicketState, after: TicketState, now: datetime) -> list[Op]:
    """A ticket that just became critical (urgent, or escalated) joins its requester's and organization's
    history; entries older than 90 days are trimmed on the way."""
    if critical(before) or not critical(after):
        return []
    at, ops = now.timestamp(), []
    for kind, record in (("organization", after.organization_id), ("requester", after.requester_id)):
        if record:
            key = keys.history(tenant, kind, record)
            ops += [Op("Z", key, at, ticket_id), Op("T", key, at - HISTORY_SECONDS), Op("X", key, HISTORY_SECONDS)]
    return ops


def finish_for(
    tenant: str,
    outcome: Outcome,
    policy: Policy,
    now: datetime,
    before: TicketState | None = None,
    attempts: int | None = None,
) -> Finish:
    """Everything the queue writes when the ticket's pass is done; `before`: the state the pass started from."""
    state: TicketState = outcome.state
    desired = desired_timers(policy, state, now, outcome.ticket)
    timers, arm, cancel = timer_changes(tenant, outcome.ticket_id, state.timers, desired)
    state.timers = timers
    metrics = keys.metrics(tenant)
    ops = [Op("H", metrics, name, value) for name, value in counters(outcome, before, now).items() if value]
    if before is not None:
        imported = all(event.source == "backfill" for event in outcome.events) and bool(outcome.events)
        ops += kpi_ops(tenant, before, state, imported)
        ops += history_ops(tenant, outcome.ticket_id, before, state, now)
    return Finish(
        state_json=json.dumps(state.to_dict(), separators=(",", ":")),
        dead=outcome.dead,
        attempts=attempts,
        journal=journal_entry(outcome),
        ops=ops,
        arm=arm,
        cancel=cancel,
    )
