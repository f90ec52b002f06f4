"""Which timers a ticket needs now: the next SLA threshold of each running clock, and each elapsed-time
trigger's deadline (anchor + `after` on the trigger's calendar) not yet fired or checked for that anchor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalator.rules.engine import segments_of
from escalator.rules.facts import Facts
from escalator.rules.model import Ticket, TicketEvent, parse_instant
from escalator.rules.policy import Policy
from escalator.rules.sla import SlaClock, next_alert
from escalator.rules.state import TicketState

SLA_TIMER = "sla:"
PAUSE_CAP = "pause"
"""The `sla:pause` timer: when a pause reaches `max_pause` (rules.pausing)."""
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


def desired_timers(
    policy: Policy,
    state: TicketState,
    now: datetime,
    ticket: Ticket | None = None,
    history: Mapping[str, int] | None = None,
) -> dict[str, datetime]:
    """Timer name -> due instant. A closed ticket needs none (help desks refuse updates to it).

    A deadline already past (the ticket was busy, or a condition was false when it came due and the ticket
    has moved since) is due `now`, so it is looked at again at once rather than never.

    Given the ticket as it is now, an elapsed-time trigger's timer is armed only while its condition holds
    (as the timer will see it): nothing on the ticket can change without an event, and every event asks
    again, so a timer whose trigger could not fire is never armed. Most idle and fuse triggers do not apply
    to most tickets; this spares a timer and a decision each time. Triggers that read other tickets' news
    (`Policy.volatile_triggers`) are armed regardless."""
    if state.status == "closed":
        return {}
    timers: dict[str, datetime] = {}
    probe: Facts | None = None
    for metric, data in state.clocks.items():
        if data.get("done_at") is not None or data.get("running_since") is None:
            continue  # met or paused: no alert to come (next_alert's own first answer, without making a clock)
        due = next_alert(policy, SlaClock.reading(data))
        if due is not None:
            timers[f"{SLA_TIMER}{metric}"] = due  # str(TimerName(sla=metric)), without making the object
    resumes = parse_instant(state.pause.get("resumes_at"))
    if resumes is not None:
        timers[f"{SLA_TIMER}{PAUSE_CAP}"] = max(resumes, now)  # max_pause runs out: the clocks run again
    for trigger in policy.timed_triggers:
        if trigger.after is None:
            continue
        anchor = state.anchors.get(trigger.since or "updated")
        if anchor is None or anchor in (state.fired.get(trigger.id), state.checked.get(trigger.id)):
            continue
        if ticket is not None and trigger.id not in policy.volatile_triggers:
            if probe is None:
                probe = _probe(policy, state, ticket, now, history)
            if not trigger.condition(probe):
                continue
        start = parse_instant(anchor)
        assert start is not None
        # The anchor is part of the name: when it moves, the old timer is cancelled and a new one armed.
        name = f"{TRIGGER_TIMER}{trigger.id}@{anchor}"  # str(TimerName(trigger=trigger.id, anchor=anchor))
        timers[name] = max(trigger.calendar.add(start, trigger.after), now)
    return timers


def _probe(
    policy: Policy, state: TicketState, ticket: Ticket, now: datetime, history: Mapping[str, int] | None
) -> Facts:
    """The facts a timer event will have (no comment, no changes), for every trigger's condition: the ticket's
    segments are the same for every trigger, and the memo answers the leaves triggers share (`segments
    includes enterprise`, `active is true`) once. Nothing changes between the triggers' conditions."""
    event = TicketEvent("schedule", "timer.elapsed", ticket.id, now, source="timer")
    known = dict(history or {})
    return Facts(ticket, state, event, segments_of(policy, ticket, state, event, known), history=known, memo={})
