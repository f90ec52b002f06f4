"""SLA clocks: start at tier entry, pause on waiting statuses, stop when fulfilled, alert at each threshold.

Pure: the engine calls `update_clocks` for every event and `crossed` when an SLA timer fires; the plugin
arms a timer at `next_alert` for each running clock. Elapsed time is business time on the SLA's calendar,
accrued across pauses, so a clock stands still while the ticket waits on the customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from escalator.rules.calendar import ALWAYS_OPEN, BusinessCalendar
from escalator.rules.model import Ticket, TicketEvent, format_instant, parse_instant
from escalator.rules.policy import DEFAULT_PAUSE_ON, Policy, SlaTarget

TOLERANCE_SECONDS = 0.001
"""Timers fire at the due instant, never before; float rounding may leave a threshold a hair short."""
DONE_STATUSES = frozenset({"solved", "closed"})


@dataclass
class SlaClock:
    metric: str
    unit: str
    target: float
    calendar: str
    warn_at: list[float]
    pause_on: list[str]
    started_at: str
    elapsed: float = 0.0
    """Business seconds accrued before `running_since` (the time spent in earlier running stretches)."""
    running_since: str | None = None
    done_at: str | None = None
    alerted: list[float] = field(default_factory=list)
    """Thresholds already raised: warning fractions, and 1.0 for the breach."""

    def to_dict(self) -> dict[str, Any]:
        # Explicit and shallow: asdict's recursive deep copy was a tenth of a worker's time.
        return {
            **vars(self),
            "warn_at": list(self.warn_at),
            "pause_on": list(self.pause_on),
            "alerted": list(self.alerted),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SlaClock:
        """A clock of its own: its lists are copies, so changing it (a threshold raised) never changes `data`,
        which a state copy may share with the state it was copied from (TicketState.copy)."""
        clock = cls(**data)
        clock.warn_at, clock.pause_on, clock.alerted = list(clock.warn_at), list(clock.pause_on), list(clock.alerted)
        return clock

    @classmethod
    def reading(cls, data: dict[str, Any]) -> SlaClock:
        """A clock to read only: it shares `data`'s lists (from_dict copies them, for a clock to change)."""
        return cls(**data)

    def thresholds(self) -> tuple[float, ...]:
        return _thresholds(tuple(self.warn_at))


@lru_cache(maxsize=256)
def _thresholds(warn_at: tuple[float, ...]) -> tuple[float, ...]:
    # A policy has a few warning ladders, asked for at every timer and alert check: worked out once each.
    return tuple(sorted({*warn_at, 1.0}))


def _calendar(policy: Policy, name: str) -> BusinessCalendar:
    return policy.calendars.get(name, ALWAYS_OPEN)


def elapsed_at(policy: Policy, clock: SlaClock, now: datetime) -> float:
    """Business seconds the clock has run by `now`."""
    if clock.running_since is None:
        return clock.elapsed
    since = parse_instant(clock.running_since)
    assert since is not None
    return clock.elapsed + _calendar(policy, clock.calendar).between(since, now)


def deadline_of(policy: Policy, clock: SlaClock) -> datetime | None:
    """When the clock reaches its target (the breach), if it keeps running; None while paused or once met."""
    if clock.done_at is not None or clock.running_since is None:
        return None
    since = parse_instant(clock.running_since)
    assert since is not None
    return _calendar(policy, clock.calendar).add(since, max(0.0, clock.target - clock.elapsed))


def next_alert(policy: Policy, clock: SlaClock) -> datetime | None:
    """When the next unraised threshold is reached, or None while paused, fulfilled or fully alerted."""
    if clock.done_at is not None or clock.running_since is None:
        return None
    pending = [fraction for fraction in clock.thresholds() if fraction not in clock.alerted]
    if not pending:
        return None
    since = parse_instant(clock.running_since)
    assert since is not None
    remaining = max(0.0, pending[0] * clock.target - clock.elapsed)
    return _calendar(policy, clock.calendar).add(since, remaining)


def crossed(policy: Policy, clocks: dict[str, SlaClock], now: datetime) -> list[tuple[SlaClock, float]]:
    """Thresholds reached by `now` and not raised before; marks them raised (each is raised once)."""
    raised: list[tuple[SlaClock, float]] = []
    for clock in clocks.values():
        if clock.done_at is not None:
            continue
        elapsed = elapsed_at(policy, clock, now)
        for fraction in clock.thresholds():
            if fraction not in clock.alerted and elapsed + TOLERANCE_SECONDS >= fraction * clock.target:
                clock.alerted.append(fraction)
                raised.append((clock, fraction))
    return raised


def _target(sla: SlaTarget | None, metric: str) -> float | None:
    return sla.targets.get(metric) if sla is not None else None


def _start(metric: str, unit: str, sla: SlaTarget, at: str, paused: bool) -> SlaClock:
    return SlaClock(
        metric=metric,
        unit=unit,
        target=sla.targets[metric],
        calendar=sla.calendar.name,
        warn_at=list(sla.warn_at),
        pause_on=sorted(sla.pause_on),
        started_at=at,
        running_since=None if paused else at,
    )


def _pause(policy: Policy, clock: SlaClock, at: datetime) -> None:
    if clock.running_since is not None:
        clock.elapsed = elapsed_at(policy, clock, at)
        clock.running_since = None


def update_clocks(
    policy: Policy,
    clocks: dict[str, SlaClock],
    unit: str | None,
    ticket: Ticket,
    event: TicketEvent,
    segments: tuple[str, ...],
    *,
    tier_entered: str | None,
    own_change: bool,
    pause_honored: bool = True,
) -> dict[str, SlaClock]:
    """The clocks after this event: restarted on a new tier, re-targeted on a priority or segment change,
    paused/resumed with the status (when rules.pausing honors the pause), fulfilled by a human agent's public
    reply or by solving."""
    at_dt = event.occurred_at
    at = format_instant(at_dt)
    sla = policy.sla_for(unit, ticket.priority, segments) if unit else None
    pause_on = sla.pause_on if sla else DEFAULT_PAUSE_ON
    paused = ticket.status in pause_on and pause_honored
    result = {metric: clock for metric, clock in clocks.items() if clock.unit == unit}
    # A ticket entering a tier gets that tier's clocks, counted from the moment it entered.
    if unit is not None and sla is not None and tier_entered is not None:
        for metric in ("first_response", "resolution"):
            if metric in sla.targets and metric not in result:
                result[metric] = _start(metric, unit, sla, tier_entered, paused)
    for metric, clock in list(result.items()):
        target = _target(sla, metric)
        if target is None:
            del result[metric]  # the SLA that applies now has no target for this metric
            continue
        clock.target = target  # priority or segment changes re-target, keeping the time already spent
        if clock.done_at is not None:
            continue
        if paused or ticket.status in DONE_STATUSES:
            _pause(policy, clock, at_dt)
        elif clock.running_since is None:
            clock.running_since = at
    comment = event.comment
    if not own_change and comment is not None and comment.public:
        if comment.author == "agent":
            for answered in (result.get("first_response"), result.get("next_response")):
                if answered is not None and answered.done_at is None:
                    _pause(policy, answered, at_dt)
                    answered.done_at = at
        elif sla is not None and "next_response" in sla.targets and unit is not None:
            current = result.get("next_response")
            if current is None or current.done_at is not None:
                result["next_response"] = _start("next_response", unit, sla, at, paused)
    resolution = result.get("resolution")
    if resolution is not None:
        if ticket.status in DONE_STATUSES and resolution.done_at is None:
            _pause(policy, resolution, at_dt)
            resolution.done_at = at
        elif ticket.status not in DONE_STATUSES and resolution.done_at is not None and event.kind == "ticket.reopened":
            resolution.done_at = None  # reopened: the resolution clock runs on from where it stopped
            if not paused:
                resolution.running_since = at
    return result
