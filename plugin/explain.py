"""Why a ticket is where it is: its escalation trail, its SLA clocks and what Escalator will do next.

One builder for every reader: `escalator why` (text or `--json`), the escalation JSON endpoint and the Zendesk
sidebar (plugin.sidebar). `explain` is pure — the remembered state, the tenant's policy, the journal and an
instant in, an `Explanation` out — and `load` reads the two Redis keys it needs.

The state is written by the engine, which grows new fields now and then: everything here is read
defensively (a missing field means "not known", never a crash), so an explanation of an old ticket still
works after an upgrade.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from escalator.plugin import keys
from escalator.rules.calendar import ALWAYS_OPEN
from escalator.rules.durations import humanize
from escalator.rules.model import format_instant, parse_instant
from escalator.rules.pausing import PauseState
from escalator.rules.policy import SLA_METRICS, Action, Policy
from escalator.rules.schedule import PAUSE_CAP, TimerName, desired_timers
from escalator.rules.sla import TOLERANCE_SECONDS, SlaClock, elapsed_at
from escalator.rules.state import Escalation, TicketState

JOURNAL_SHOWN = 50
"""Journal entries `escalator why` shows (the queue keeps more); the newest ones."""
GROUP_PREFIX = "group:"
"""How the state's trail names a help desk group that is no tier or team of the policy (by its id)."""


@dataclass(frozen=True)
class Move:
    """One move of the ticket between tiers and teams, as the engine recorded it."""

    at: str
    source: str | None
    target: str
    by: str
    """"rule" or "agent"."""
    rule: str | None
    reason: str | None
    direction: str = "up"
    """"up" (an escalation), "down" (a de-escalation) or "route" (placed at creation)."""
    actor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "from": self.source,
            "to": self.target,
            "by": self.by,
            "rule": self.rule,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Clock:
    metric: str
    unit: str | None
    due: datetime | None
    """When the target is reached while the clock runs; None while paused (the deadline stands still)."""
    paused: bool
    breached: bool
    done_at: str | None
    """When the obligation was met (a reply, the solve); such a clock is history, not a deadline."""
    target: float
    elapsed: float

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "due": format_instant(self.due) if self.due else None,
            "paused": self.paused,
            "breached": self.breached,
        }


@dataclass(frozen=True)
class Step:
    """Something Escalator will look at, at an instant: an SLA threshold or an elapsed-time trigger."""

    what: str
    at: datetime
    timer: str

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "at": format_instant(self.at)}


@dataclass(frozen=True)
class Decision:
    """One journal entry: the events a pass decided on and every reason it gave (fired or held back)."""

    at: datetime | None
    events: list[tuple[str, str]]
    reasons: list[str]
    writes: int


@dataclass(frozen=True)
class Explanation:
    ticket_id: str
    tier: str | None
    team: str | None
    group: str | None
    assignee: str | None
    owner: str | None
    moves: list[Move]
    bounces: int
    clocks: list[Clock]
    next: list[Step]
    trail: list[str] = field(default_factory=list)
    """The groups the ticket sat in, in order (tier and team ids, `group:<id>` for others)."""
    journal: list[Decision] = field(default_factory=list)
    """The latest decisions, oldest first."""
    status: str | None = None
    priority: str | None = None
    pause: dict[str, Any] = field(default_factory=dict)
    """Whether the SLA clocks stand still on a pause status, and why or why not (rules.pausing)."""

    @property
    def escalated(self) -> bool:
        return any(move.direction == "up" for move in self.moves)

    def to_json(self) -> dict[str, Any]:
        """DESIGN §4's escalation JSON, exactly (the endpoint, the sidebar and `why --json` share it)."""
        return {
            "ticket_id": self.ticket_id,
            "tier": self.tier,
            "team": self.team,
            "group": self.group,
            "assignee": self.assignee,
            "owner": self.owner,
            "escalated": self.escalated,
            "escalations": [move.to_json() for move in self.moves if move.direction == "up"],
            "bounces": self.bounces,
            "clocks": [clock.to_json() for clock in self.clocks if clock.done_at is None],
            "next": [step.to_json() for step in self.next],
            "pause": self.pause,
        }


# --- reading ---------------------------------------------------------------------------------------------


def load(client: redis.Redis, policy: Policy, tenant: str, ticket_id: str, now: datetime) -> Explanation | None:
    """The tenant's ticket explained, or None when Escalator has never seen it."""
    raw = client.get(keys.state(tenant, ticket_id))
    if not raw:
        return None
    entries = client.lrange(keys.journal(tenant, ticket_id), 0, JOURNAL_SHOWN - 1)
    return explain(policy, json.loads(raw), ticket_id, now, [keys.as_text(entry) for entry in entries])


def explain(
    policy: Policy, data: Mapping[str, Any], ticket_id: str, now: datetime, journal: Sequence[str] = ()
) -> Explanation:
    """`data`: the ticket's state as stored (JSON); `journal`: its entries as stored, newest first."""
    state = TicketState.from_dict(dict(data))
    clocks = {metric: clock for metric, data in state.clocks.items() if (clock := _clock(data)) is not None}
    state.clocks = {metric: state.clocks[metric] for metric in clocks}  # unknown shapes left out everywhere
    decisions = [decision for decision in map(_decision, reversed(journal)) if decision is not None]
    return Explanation(
        ticket_id=ticket_id,
        tier=state.tier,
        team=state.team,
        group=_group(policy, state.groups[-1]) if state.groups else None,
        assignee=_text(state.assignee),
        owner=_text(state.owner),
        moves=[_move(entry, decisions) for entry in state.escalations],
        bounces=int(state.bounces or 0),
        clocks=_clocks(policy, clocks, now),
        next=_next(policy, state, now),
        trail=list(state.groups),
        journal=decisions,
        status=state.status,
        priority=state.priority,
        pause=_pause(state),
    )


def _pause(state: TicketState) -> dict[str, Any]:
    pause = PauseState.from_dict(state.pause)
    return {
        "paused": pause.honored,
        "reason": pause.reason or "the clocks run: the ticket is not waiting on the customer",
        "since": pause.since,
        "resumes_at": pause.resumes_at,
        "pauses": pause.count,
        "paused_hours": round(pause.total / 3600, 2),
    }


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _group(policy: Policy, entry: str) -> str:
    """The help desk group of a trail entry: the unit's group, or the id of a group no unit owns."""
    if entry.startswith(GROUP_PREFIX):
        return entry.removeprefix(GROUP_PREFIX)
    unit = policy.unit(entry)
    return str(unit.group) if unit is not None else entry


def _decision(raw: str) -> Decision | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    stamp = entry.get("decided_at") or entry.get("at")
    at = datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int | float) else None
    events = [
        (str(item[0]), str(item[1])) for item in entry.get("events") or [] if isinstance(item, list) and len(item) == 2
    ]
    reasons = [str(reason) for reason in entry.get("reasons") or []]
    return Decision(at, events, reasons, int(entry.get("writes") or 0))


def _move(entry: Escalation, decisions: Sequence[Decision]) -> Move:
    by = entry.by or "rule"
    rule = entry.rule or None
    reason = entry.reason
    if not reason and entry.matched:
        reason = f"matched '{entry.matched}'"
    if not reason and rule:
        reason = _cause(decisions, f"{rule}: escalate {entry.source} -> {entry.target}")
    return Move(
        at=entry.at,
        source=entry.source,
        target=entry.target,
        by=by,
        rule=rule,
        reason=reason,
        direction=entry.direction or "up",
        actor=_text(entry.actor),
    )


def _cause(decisions: Sequence[Decision], said: str) -> str | None:
    """For a rule's move with no phrase behind it: the event that made the rule fire (`sla.breached`), read
    from the journal entry that recorded the move (older entries may have been trimmed: then None)."""
    for decision in reversed(decisions):
        if any(reason.startswith(said) for reason in decision.reasons):
            kinds = [kind for kind, _ in decision.events if kind != "timer.elapsed"]
            return f"on {', '.join(dict.fromkeys(kinds))}" if kinds else None
    return None


def _clocks(policy: Policy, clocks: Mapping[str, SlaClock], now: datetime) -> list[Clock]:
    found = []
    for metric, clock in sorted(clocks.items(), key=lambda item: _metric_order(item[0])):
        elapsed = elapsed_at(policy, clock, now)
        breached = 1.0 in clock.alerted or elapsed + TOLERANCE_SECONDS >= clock.target
        paused = clock.done_at is None and clock.running_since is None
        found.append(
            Clock(
                metric=metric,
                unit=clock.unit,
                due=_due(policy, clock),
                paused=paused,
                breached=breached,
                done_at=clock.done_at,
                target=clock.target,
                elapsed=elapsed,
            )
        )
    return found


def _clock(data: Any) -> SlaClock | None:
    """A stored clock, or None for one of a shape this version does not know (left out rather than guessed)."""
    try:
        return SlaClock.from_dict(dict(data))
    except (TypeError, ValueError):
        return None


def _metric_order(metric: str) -> tuple[int, str]:
    return (SLA_METRICS.index(metric) if metric in SLA_METRICS else len(SLA_METRICS), metric)


def _due(policy: Policy, clock: SlaClock) -> datetime | None:
    """The instant the clock reaches its target, running on its calendar; None when it is not running, or
    when it had already used its whole target before the current stretch began (then it is just breached)."""
    if clock.done_at is not None or clock.running_since is None:
        return None
    since = parse_instant(clock.running_since)
    remaining = clock.target - clock.elapsed
    if since is None or remaining < 0:
        return None
    return policy.calendars.get(clock.calendar, ALWAYS_OPEN).add(since, remaining)


# --- what comes next -------------------------------------------------------------------------------------


def _next(policy: Policy, state: TicketState, now: datetime) -> list[Step]:
    steps = []
    for name, due in desired_timers(policy, state, now).items():
        if state.timers and name not in state.timers:
            continue  # not armed: its trigger's condition does not hold for the ticket as it is (rules.schedule)
        timer = TimerName.parse(name)
        what = _sla_step(policy, state, timer.sla) if timer.sla is not None else _trigger_step(policy, timer)
        steps.append(Step(what, due, name))
    return sorted(steps, key=lambda step: (step.at, step.timer))


def _sla_step(policy: Policy, state: TicketState, metric: str) -> str:
    if metric == PAUSE_CAP:
        return "the pause allowance (max_pause) runs out: the SLA clocks run again"
    data = state.clocks.get(metric) or {}
    alerted = set(data.get("alerted") or [])
    pending = sorted(fraction for fraction in {*(data.get("warn_at") or []), 1.0} if fraction not in alerted)
    label = metric.replace("_", " ")
    unit = f" in {data['unit']}" if data.get("unit") else ""
    if pending and pending[0] < 1.0:
        event, said = "sla.warning", f"{label} SLA warning{unit} ({round(pending[0] * 100)}% used)"
    else:
        event, said = "sla.breached", f"{label} SLA breach{unit}"
    reactions = [_reaction(trigger.id, trigger.actions) for trigger in policy.listening(event)]
    return f"{said}; rules that react: {', '.join(reactions)}" if reactions else f"{said}; no rule reacts to it"


def _trigger_step(policy: Policy, timer: TimerName) -> str:
    trigger = next((item for item in policy.triggers if item.id == timer.trigger), None)
    if trigger is None:
        return f"{timer.trigger}: no longer in the rules (its timer is dropped)"
    since = (trigger.since or "updated").replace("_", " ")
    after = f" ({humanize(trigger.after)} since {since})" if trigger.after else ""
    return f"checks {trigger.id}{after}: if its conditions hold, {_actions(trigger.actions)}"


def _reaction(trigger_id: str, actions: Sequence[Action]) -> str:
    return f"{trigger_id} ({_actions(actions)})"


def _actions(actions: Sequence[Action]) -> str:
    return ", ".join(describe_action(action) for action in actions) or "nothing"


def describe_action(action: Action) -> str:
    """`escalate to next`, `set priority +1`, `note 'internal_handoff'`: an action as the rules file says it."""
    verb = action.kind.replace("_", " ")
    target = action.to or getattr(action, "to_field", None)
    if action.kind == "escalate":
        return f"escalate to {target}"
    if action.kind == "assign":
        return f"assign to {target}"
    if action.kind == "set_priority":
        return f"set priority {action.value}"
    if action.template:
        return f"{verb} '{action.template}'"
    if action.tags:
        return f"{verb} {', '.join(action.tags)}"
    return verb
