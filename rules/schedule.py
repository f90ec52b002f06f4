"""Which timers a ticket needs now: the next SLA threshold of each running clock, and each elapsed-time
trigger's deadline (anchor + `after` on the trigger's calendar) not yet fired or checked for that anchor."""

from __future__ import annotations

from datetime import datetime

from escalator.rules.model import parse_instant
from escalator.rules.policy import Policy
from escalator.rules.sla import SlaClock, next_alert
from escalator.rules.state import TicketState

SLA_TIMER = "sla:"
TRIGGER_TIMER = "trigger:"


def desired_timers(policy: Policy, state: TicketState, now: datetime) -> dict[str, datetime]:
    """Timer name -> due instant. A closed ticket needs none (help desks refuse updates to it).

    A deadline already past (the ticket was busy, or a condition was false when it came due and the ticket
    has moved since) is due `now`, so it is looked at again at once rather than never."""
    if state.status == "closed":
        return {}
    timers: dict[str, datetime] = {}
    for metric, data in state.clocks.items():
        due = next_alert(policy, SlaClock.from_dict(data))
        if due is not None:
            timers[SLA_TIMER + metric] = due
    for trigger in policy.triggers:
        if trigger.after is None:
            continue
        anchor = state.anchors.get(trigger.since or "updated")
        if anchor is None or anchor in (state.fired.get(trigger.id), state.checked.get(trigger.id)):
            continue
        start = parse_instant(anchor)
        assert start is not None
        # The anchor is part of the name: when it moves, the old timer is cancelled and a new one armed.
        timers[f"{TRIGGER_TIMER}{trigger.id}@{anchor}"] = max(trigger.calendar.add(start, trigger.after), now)
    return timers
