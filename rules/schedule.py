"""Which timers a ticket needs now: the next SLA threshold of each running clock, and each elapsed-time
trigger's deadline (anchor + `after` on the trigger's calendar) not yet fired or checked for that anchor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalator.rules.model import parse_instant
from escalator.rules.policy import Policy
from escalator.rules.sla import SlaClock, next_alert
from escalator.rules.state import TicketState

SLA_TIMER = "sla:"
TRIGGER_TIMER = "trigger:"


@dataclass(frozen=True)
class TimerName:
    """What a ticket's timer is for, and its name in the timer store: `sla:<metric>` (the clock's next
    threshold) or `trigger:<id>@<anchor>` (an elapsed-time trigger, for one value of its anchor: when the
    anchor moves, the name changes, so the old timer is cancelled and a new one armed)."""

    sla: str | None = None
    trigger: str | None = None
    anchor: str | None = None

    def __str__(self) -> str:
        if self.sla is not None:
            return f"{SLA_TIMER}{self.sla}"
        return f"{TRIGGER_TIMER}{self.trigger}@{self.anchor or ''}"

    @classmethod
    def parse(cls, name: str) -> TimerName:
        kind, _, rest = name.partition(":")
        if kind == SLA_TIMER.rstrip(":"):
            return cls(sla=rest)
        trigger, _, anchor = rest.partition("@")
        return cls(trigger=trigger, anchor=anchor or None)

    def detail(self) -> dict[str, Any]:
        """What the engine needs to re-check the timer when it fires (the `timer.elapsed` event's detail)."""
        if self.sla is not None:
            return {"timer": str(self), "sla": self.sla}
        return {"timer": str(self), "trigger": self.trigger, "anchor_value": self.anchor}


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
            timers[str(TimerName(sla=metric))] = due
    for trigger in policy.triggers:
        if trigger.after is None:
            continue
        anchor = state.anchors.get(trigger.since or "updated")
        if anchor is None or anchor in (state.fired.get(trigger.id), state.checked.get(trigger.id)):
            continue
        start = parse_instant(anchor)
        assert start is not None
        # The anchor is part of the name: when it moves, the old timer is cancelled and a new one armed.
        timers[str(TimerName(trigger=trigger.id, anchor=anchor))] = max(trigger.calendar.add(start, trigger.after), now)
    return timers
