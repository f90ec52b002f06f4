"""A policy walked through time on a virtual clock, one ticket at a time: the worker's path without Redis.

Each event is folded exactly as the worker folds it (rules.fold), the plan is applied to the ticket (as the
help desk would hold it after our write), and between events the timers the state asks for
(rules.schedule.desired_timers) fire at their instants as `timer.elapsed` events, as the timer loop fires
them. `Walk.log` keeps every plan with its instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from escalator.rules.fold import fold
from escalator.rules.model import Comment, Ticket, TicketEvent
from escalator.rules.plan import Plan, PlannedComment, apply_plan
from escalator.rules.policy import Policy
from escalator.rules.schedule import TimerName, desired_timers
from escalator.rules.state import TicketState

OWN = "escalator"
AGENT = "agent-7"


@dataclass
class Walk:
    policy: Policy
    ticket: Ticket
    state: TicketState = field(default_factory=TicketState)
    now: datetime | None = None
    log: list[tuple[datetime, Plan]] = field(default_factory=list)
    history: dict[str, int] = field(default_factory=dict)
    sent: int = 0

    def _fold(self, event: TicketEvent) -> Plan:
        folded = fold(self.policy, self.state, self.ticket, [event], own_user_id=OWN, history=self.history)
        assert not folded.condemned, folded.condemned
        self.state = folded.state
        self.ticket = apply_plan(self.ticket, folded.plan)
        if folded.plan.unit is not None:
            self.ticket = replace(self.ticket, group_id=None)
        self.log.append((event.occurred_at, folded.plan))
        self.now = event.occurred_at
        return folded.plan

    def advance(self, until: datetime) -> list[tuple[datetime, Plan]]:
        """Fire every timer due up to `until`, in due order, re-asking the state after each."""
        fired: list[tuple[datetime, Plan]] = []
        while True:
            timers = desired_timers(self.policy, self.state, self.now or until, self.ticket, self.history)
            due = min(((at, name) for name, at in timers.items() if at <= until), default=None)
            if due is None:
                self.now = until
                return fired
            at, name = due
            self.sent += 1
            event = TicketEvent(
                f"timer-{self.sent}", "timer.elapsed", self.ticket.id, at, source="timer",
                detail=TimerName.parse(name).detail(),
            )  # fmt: skip
            fired.append((at, self._fold(event)))

    def event(self, kind: str, at: datetime, **fields: Any) -> Plan:
        self.advance(at)
        self.sent += 1
        return self._fold(TicketEvent(f"event-{self.sent}", kind, self.ticket.id, at, **fields))

    def created(self, at: datetime) -> Plan:
        return self.event("ticket.created", at, actor_id=self.ticket.requester.id)

    def customer_writes(self, body: str, at: datetime) -> Plan:
        self.advance(at)  # timers before `at` see the ticket as it was
        comment = Comment(body, True, "requester", self.ticket.requester.id)
        self.ticket = replace(self.ticket, status="open" if self.ticket.status == "pending" else self.ticket.status)
        return self.event("comment.added", at, comment=comment, actor_id=self.ticket.requester.id)

    def agent_writes(self, body: str, at: datetime, *, public: bool = True, agent: str = AGENT, **ticket: Any) -> Plan:
        self.advance(at)
        self.ticket = replace(self.ticket, **ticket) if ticket else self.ticket
        return self.event("comment.added", at, comment=Comment(body, public, "agent", agent), actor_id=agent)

    def agent_changes(self, at: datetime, *, agent: str = AGENT, **ticket: Any) -> Plan:
        self.advance(at)
        before = self.ticket
        self.ticket = replace(self.ticket, **ticket)
        changes = {key: (getattr(before, key), value) for key, value in ticket.items()}
        kind = "ticket.solved" if ticket.get("status") == "solved" else "ticket.updated"
        return self.event(kind, at, changes=changes, actor_id=agent)

    def comments(self, *, public: bool | None = None) -> list[tuple[datetime, PlannedComment]]:
        return [
            (at, comment)
            for at, plan in self.log
            for comment in plan.comments
            if public is None or comment.public == public
        ]

    def moves(self) -> list[tuple[datetime, str]]:
        return [(at, plan.unit.id) for at, plan in self.log if plan.unit is not None]
