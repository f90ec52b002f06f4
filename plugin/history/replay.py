"""One ticket's history replayed through the live worker's decision path, on a virtual clock.

What the live service does for a ticket, step by step, is what a replay does, with the same functions:

- a batch of events is folded on the ticket as the help desk has it (`rules.fold.fold`); the lines of one
  history instant are one batch, decided on the ticket the newest of them shows (as a worker decides a
  batch of webhooks on the newest event's snapshot);
- the plan is "written back": applied to the simulated ticket (see the overlay below);
- the timers the new state asks for are armed (`rules.schedule.desired_timers(policy, state, now)`), with
  `now` the virtual instant of the step;
- before the next history instant, every armed timer due at or before it fires, earliest first: it becomes
  a `timer.elapsed` event (`plugin.clock.timer_event`, the live timer loop's own conversion) folded like
  any event, after which the timers are asked for again. A timer fires once per (name, due), as the live
  queue deduplicates fired timers by that delivery id. After the last line, timers fire up to `until`.
- the history facts a decision reads (`organization.history.critical_90d`, ...) come from the replay's own
  record of critical tickets (`critical.CriticalRecord`), as the worker reads them from Redis.

The overlay: how Escalator's writes meet later history. The history was written in a world where
Escalator did not act, so each line's ticket lacks what Escalator would have changed. The simulated ticket
is the newest line's ticket overlaid with Escalator's writes: the group (a tier's or team's), the priority,
the assignee and the tags Escalator set keep Escalator's value until a later history line changes that
field itself (the field is in its `changes`; for tags, the tag is added or removed by its `changes`); from
then on the history's value wins, as the people's later change would have overwritten Escalator's.

Where a replay and the live service can differ: the live worker folds the events waiting in a ticket's
inbox together, on the newest event's snapshot. When events of different instants share a batch (a burst,
a busy worker), the earlier ones are decided on a later ticket: a customer's comment followed a second
later by the reopening is then decided as if already reopened, and the SLA clock resumes at the comment. A
replay decides each instant on its own line's ticket, as the history tells it (tests/test_simulate_live.py
runs one scenario both ways and compares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalator.plugin.clock import timer_event, timer_key
from escalator.plugin.history.attribution import SimAction, plan_actions
from escalator.plugin.history.critical import CriticalRecord
from escalator.plugin.history.records import HistoryRecord
from escalator.plugin.timers import FiredTimer
from escalator.rules.fold import fold
from escalator.rules.model import Ticket, TicketEvent, revised
from escalator.rules.plan import Plan
from escalator.rules.policy import Policy
from escalator.rules.schedule import desired_timers
from escalator.rules.state import TicketState

OWN_USER_ID = "escalator-simulated"
"""Escalator's user in a replay: no history line is Escalator's own echo (the export leaves them out)."""
TENANT = "simulate"
MAX_TIMER_FIRINGS = 5000
"""A bound on timer events per ticket: a policy whose timers re-arm at the same instant forever is reported,
not looped on."""
_GROUP_FIELDS = ("group", "group_id")


@dataclass
class Overlay:
    """Escalator's writes not yet overwritten by the history (see the module docstring)."""

    group: str | None = None
    priority: str | None = None
    assignee: str | None = None
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)

    def forget(self, changes: Any) -> None:
        """A history line changed these fields: its values win from now on."""
        if not changes:
            return
        if self.group is not None and any(name in changes for name in _GROUP_FIELDS):
            self.group = None
        if "priority" in changes:
            self.priority = None
        if "assignee" in changes:
            self.assignee = None
        pair = changes.get("tags")
        if pair is not None and (self.added or self.removed):
            before, after = (set(side) if isinstance(side, list) else set() for side in pair)
            touched = before ^ after
            self.added -= touched
            self.removed -= touched

    def absorb(self, plan: Plan) -> bool:
        """Take the plan's writes; False when it writes nothing the overlay keeps."""
        if not (plan.unit is not None or plan.priority or plan.assignee or plan.add_tags or plan.remove_tags):
            return False
        if plan.unit is not None:
            self.group = str(plan.unit.group)
        if plan.priority:
            self.priority = plan.priority
        if plan.assignee:
            self.assignee = plan.assignee
        for tag in plan.add_tags:
            self.added.add(tag)
            self.removed.discard(tag)
        for tag in plan.remove_tags:
            self.removed.add(tag)
            self.added.discard(tag)
        return True

    def apply(self, ticket: Ticket) -> Ticket:
        if self.group is None and self.priority is None and self.assignee is None and not self.added | self.removed:
            return ticket
        tags = ticket.tags
        if self.added or self.removed:
            tags = tuple(tag for tag in tags if tag not in self.removed) + tuple(
                sorted(tag for tag in self.added if tag not in tags)
            )
        return revised(
            ticket,
            group_name=self.group if self.group is not None else ticket.group_name,
            group_id=None if self.group is not None else ticket.group_id,
            priority=self.priority or ticket.priority,
            assignee_id=self.assignee or ticket.assignee_id,
            tags=tags,
        )


@dataclass(frozen=True)
class Step:
    """One fold of a replay, for `--ticket`'s trace."""

    at: datetime
    cause: str
    """`history` (lines of the file) or `timer` (a timer fired)."""
    what: str
    """The events: `comment.added by requester (line 12)`, or the timer's name."""
    reasons: tuple[str, ...]
    actions: tuple[SimAction, ...]
    tier: str | None
    team: str | None
    status: str | None
    priority: str | None
    timers: tuple[tuple[str, datetime], ...]
    """The timers armed after this step (name, due), earliest first."""


@dataclass
class TicketRun:
    """What a replay of one ticket found."""

    ticket_id: str
    state: TicketState
    actions: list[SimAction] = field(default_factory=list)
    events: int = 0
    """History lines replayed."""
    timer_events: int = 0
    sla: list[dict[str, Any]] = field(default_factory=list)
    """SLA outcomes logged during the replay (`{metric, unit, outcome, at}`)."""
    problems: list[str] = field(default_factory=list)
    """Events the engine could not evaluate (condemned, as the worker would dead-letter them), and runaway
    timers."""
    steps: list[Step] | None = None
    final_priority: str | None = None

    @property
    def final_tier(self) -> str | None:
        return self.state.tier

    @property
    def final_team(self) -> str | None:
        return self.state.team


class _Replay:
    def __init__(self, policy: Policy, ticket_id: str, trace: bool, critical: CriticalRecord) -> None:
        self.policy = policy
        self.critical = critical
        self.run = TicketRun(ticket_id, TicketState(), steps=[] if trace else None)
        self.overlay = Overlay()
        self.timers: dict[str, datetime] = {}
        self.fired: set[str] = set()
        self.base: Ticket | None = None
        self._ticket: Ticket | None = None
        """`overlay.apply(base)`, kept until either changes: a ticket is asked for two or three times a fold."""

    def ticket(self) -> Ticket:
        assert self.base is not None
        if self._ticket is None:
            self._ticket = self.overlay.apply(self.base)
        return self._ticket

    def history(self, batch: Sequence[HistoryRecord]) -> None:
        for record in batch:
            self.overlay.forget(record.changes)
        self.base = batch[-1].ticket_model()
        self._ticket = None
        self.run.events += len(batch)
        self._fold(batch[0].at, [record.event() for record in batch], batch, None)

    def timers_until(self, limit: datetime) -> None:
        """Fire every armed timer due at or before `limit`, earliest first, re-arming after each."""
        while self.base is not None:
            due_name = min(((due, name) for name, due in self.timers.items() if due <= limit), default=None)
            if due_name is None:
                return
            due, name = due_name
            fired = FiredTimer(timer_key(TENANT, self.run.ticket_id, name), due.timestamp())
            _tenant, event = timer_event(fired)
            if event.delivery_id in self.fired:
                del self.timers[name]  # the live queue drops a repeated delivery: this timer is spent
                continue
            if self.run.timer_events >= MAX_TIMER_FIRINGS:
                self.run.problems.append(f"ticket {self.run.ticket_id}: more than {MAX_TIMER_FIRINGS} timer events")
                self.timers.clear()
                return
            self.fired.add(event.delivery_id)
            event = revised(event, ticket_id=self.run.ticket_id)  # ids may hold the key's `:` separator
            self.run.timer_events += 1
            self._fold(event.occurred_at, [event], (), name)

    def _fold(self, at: datetime, events: list[TicketEvent], batch: Sequence[HistoryRecord], timer: str | None) -> None:
        """Fold `events` (a batch of history lines, or one fired `timer`) and act on what was decided."""
        assert self.base is not None
        run, policy = self.run, self.policy
        ticket = self.ticket()
        before = run.state
        facts = self.critical.facts(policy, ticket, at)
        folded = fold(policy, before, ticket, events, own_user_id=OWN_USER_ID, history=facts)
        for event, error in folded.condemned:
            lines = [record.line_number for record in batch if record.event().delivery_id == event.delivery_id]
            where = f"line {lines[0]}" if lines else f"timer {timer}"
            run.problems.append(f"{where}: the engine could not evaluate this event: {type(error).__name__}: {error}")
        state = folded.state
        run.state = state
        self.critical.note(before, state, at)
        if state.sla_log != before.sla_log:
            run.sla.extend(_appended(before.sla_log, state.sla_log))
        plan = folded.plan
        found = _mark_routing(plan_actions(plan, at), before, state) if plan.actions else []
        run.actions.extend(found)
        if self.overlay.absorb(plan):
            self._ticket = None
        self.timers = desired_timers(policy, state, at, self.ticket(), facts)
        if run.steps is not None:
            run.steps.append(
                Step(
                    at,
                    "history" if timer is None else "timer",
                    timer or ", ".join(f"{r.kind} by {r.actor.role} (line {r.line_number})" for r in batch),
                    tuple(plan.reasons),
                    tuple(found),
                    state.tier,
                    state.team,
                    state.status,
                    self.ticket().priority,
                    tuple(sorted(((name, due) for name, due in self.timers.items()), key=lambda item: item[1])),
                )
            )


def _mark_routing(actions: list[SimAction], before: TicketState, after: TicketState) -> list[SimAction]:
    """Escalate actions paired, in order, with the moves the rules added to the state: routing ones marked."""
    moves = [entry for entry in after.escalations[len(before.escalations) :] if entry.by == "rule"]
    if not any(entry.direction == "route" for entry in moves):
        return actions
    marked, index = [], 0
    for action in actions:
        if action.action == "escalate" and index < len(moves):
            action = action._replace(routing=moves[index].direction == "route")
            index += 1
        marked.append(action)
    return marked


def _appended(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries `after` added to the bounded log `before` (the engine keeps the newest 50)."""
    for shift in range(len(before) + 1):
        kept = before[shift:]
        if after[: len(kept)] == kept:
            return after[len(kept) :]
    return list(after)


def replay_ticket(
    policy: Policy,
    records: Sequence[HistoryRecord],
    until: datetime | None,
    *,
    trace: bool = False,
    critical: CriticalRecord | None = None,
) -> TicketRun:
    """Replay one ticket's records (in time order) and its timers up to `until` (None: its last line).
    `critical`: the record of critical tickets shared by the tickets of one replay (see `critical`)."""
    replay = _Replay(policy, records[0].ticket_id, trace, critical if critical is not None else CriticalRecord())
    index, count = 0, len(records)
    while index < count:
        at = records[index].at
        if until is not None and at > until:
            break
        end = index + 1
        while end < count and records[end].at == at:
            end += 1
        replay.timers_until(at)
        replay.history(records[index:end])
        index = end
    replay.timers_until(until if until is not None else records[min(index, count) - 1].at)
    run = replay.run
    if replay.base is not None:
        run.final_priority = replay.ticket().priority
    return run
