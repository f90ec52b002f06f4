"""What a finished decision leaves behind besides the ticket's state: the journal entry agents and admins read
(`escalator why`, the sidebar), the operational counters, and the timers the new state needs.

Pure: these build the `Finish` the queue writes in one step with the state (plugin.queue.EventQueue.finish).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime

from escalator.plugin.clock import timer_key
from escalator.plugin.processing import Outcome
from escalator.plugin.queue import Finish
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


def counters(outcome: Outcome) -> dict[str, int]:
    return {
        "events": outcome.consumed,
        "writes": outcome.writes,
        "escalations": 1 if outcome.plan.unit else 0,
        "replies": sum(comment.public for comment in outcome.plan.comments),
        "notes": sum(not comment.public for comment in outcome.plan.comments),
        "dead_letters": len(outcome.dead),
    }


def timer_changes(
    tenant: str, ticket_id: str, armed: Mapping[str, str], desired: Mapping[str, datetime]
) -> tuple[dict[str, str], list[tuple[str, float]], list[str]]:
    """(the new name -> key map, the timers to arm or move, the keys to cancel)."""
    wanted = {name: timer_key(tenant, ticket_id, name) for name in desired}
    arm = [(wanted[name], due.timestamp()) for name, due in desired.items()]
    cancel = [key for name, key in armed.items() if wanted.get(name) != key]
    return wanted, arm, cancel


def finish_for(tenant: str, outcome: Outcome, policy: Policy, now: datetime, attempts: int | None = None) -> Finish:
    """Everything the queue writes when the ticket's pass is done."""
    state: TicketState = outcome.state
    timers, arm, cancel = timer_changes(tenant, outcome.ticket_id, state.timers, desired_timers(policy, state, now))
    state.timers = timers
    return Finish(
        state_json=json.dumps(state.to_dict(), separators=(",", ":")),
        dead=outcome.dead,
        attempts=attempts,
        journal=journal_entry(outcome),
        counters=counters(outcome),
        arm=arm,
        cancel=cancel,
    )
