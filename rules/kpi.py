"""The KPIs of DESIGN §8 as they happen: what one pass over a ticket adds to the per-day aggregates.

Pure. The worker compares the ticket's state before and after its pass and hands the result to Redis with
the state itself (one script), so a report reads a few keys per day instead of every ticket ever seen. Days
are UTC dates of when the thing happened. What each number means:

- `tickets`: tickets first seen (counted on the day they were created);
- `escalated`: tickets escalated for the first time (moved up a tier or to a team after creation, by a rule
  or by an agent); `escalations`: every such move, also `by_actor:<rule|agent>`, `by_rule:<trigger or
  "agent">`, `by_target:<tier or team>`;
- `routed`: tickets placed above the first tier at creation, by a rule (`routed_by_rule:<trigger>`) or by
  the help desk / an agent; routing is not an escalation (L1 never had the ticket);
- `moved` / `bounced`: tickets that changed group for the first time / returned to a group they had left
  for the first time (bounce rate = bounced / moved);
- `sla:<metric>:met|breached`: SLA clocks finished (a breach counts when it happens);
- when an escalated ticket is solved: `solved_escalated`, `touches` (distinct agents, summed) and the hours
  from its first escalation to the solve, overall (`resolution_hours`), per escalating rule
  (`rule_hours:<rule>`) and per target (`target_hours:<unit>`);
- `tier_hours:<unit>`: hours a ticket spent in a tier or team, counted when it leaves or is solved there;
- `paused_seconds_by_agent:<agent>` / `paused_seconds_by_unit:<unit>`: time the SLA clocks stood still on a
  pause (rules.pausing), counted when the pause ends; `paused_hours`: each solved ticket's total (`solved`
  counts them); `pause_suspicious`: tickets put on pause suspiciously often.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from escalator.rules.model import parse_instant
from escalator.rules.state import Escalation, TicketState

CRITICAL_PRIORITY = "urgent"


@dataclass
class KpiChanges:
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(day, field) -> increment."""
    values: list[tuple[str, str, float]] = field(default_factory=list)
    """(day, series, value): durations in hours for medians and percentiles."""

    def add(self, at: str | None, name: str, n: int = 1) -> None:
        day = _day(at)
        if day is not None:
            self.counts[(day, name)] += n

    def value(self, at: str | None, series: str, hours: float) -> None:
        day = _day(at)
        if day is not None:
            self.values.append((day, series, round(hours, 4)))


def _day(at: str | None) -> str | None:
    instant = parse_instant(at)
    return instant.date().isoformat() if instant else None


def _hours(start: str | None, end: str | None) -> float | None:
    begin, finish = parse_instant(start), parse_instant(end)
    if begin is None or finish is None or finish < begin:
        return None
    return (finish - begin).total_seconds() / 3600


def critical(state: TicketState) -> bool:
    """A ticket that counts towards its organization's and requester's history of critical issues."""
    return state.priority == CRITICAL_PRIORITY or state.escalated


def kpi_changes(before: TicketState, after: TicketState, *, observed_only: bool = False) -> KpiChanges:
    """What changed between two states of one ticket, for the daily aggregates. `observed_only`: imported
    history (backfill) counts the ticket but no outcome (Escalator was not watching then)."""
    changes = KpiChanges()
    if not before.groups and after.groups:
        changes.add(after.anchors.get("created"), "tickets")
    if observed_only:
        return changes
    first_up = _first_up(after)
    for entry in after.escalations[len(before.escalations) :]:
        _escalation(changes, entry, first=entry is first_up)
    if before.reassignments == 0 and after.reassignments > 0:
        changes.add(after.last_event_at, "moved")
    if before.bounces == 0 and after.bounces > 0:
        changes.add(after.last_event_at, "bounced")
    for outcome in after.sla_log[_common_prefix(before.sla_log, after.sla_log) :]:
        changes.add(str(outcome.get("at")), f"sla:{outcome.get('metric')}:{outcome.get('outcome')}")
    _time_in_tier(changes, before, after)
    _paused(changes, before, after)
    if before.status != "solved" and after.status == "solved":
        _solved(changes, after)
    return changes


def _paused(changes: KpiChanges, before: TicketState, after: TicketState) -> None:
    """Time the clocks stood still, counted (whole seconds) when a pause stretch ends, per agent and per unit;
    a ticket put on pause `suspicious_pauses` times counts once."""
    old, new = before.pause.get("by") or {}, after.pause.get("by") or {}
    at, unit = after.last_event_at, _unit(before) or "none"
    for agent, seconds in new.items():
        added = round(seconds - old.get(agent, 0.0))
        if added > 0:
            changes.add(at, f"paused_seconds_by_agent:{agent or 'unassigned'}", added)
            changes.add(at, f"paused_seconds_by_unit:{unit}", added)
    if after.pause.get("flagged") and not before.pause.get("flagged"):
        changes.add(at, "pause_suspicious")


def _first_up(state: TicketState) -> Escalation | None:
    return next((entry for entry in state.escalations if entry.direction == "up"), None)


def _escalation(changes: KpiChanges, entry: Escalation, *, first: bool) -> None:
    if entry.direction == "route":
        changes.add(entry.at, "routed")
        if entry.by == "rule" and entry.rule:
            changes.add(entry.at, f"routed_by_rule:{entry.rule}")
        return
    if entry.direction != "up":
        return
    changes.add(entry.at, "escalations")
    changes.add(entry.at, f"by_actor:{entry.by}")
    changes.add(entry.at, f"by_rule:{entry.rule or 'agent'}")
    changes.add(entry.at, f"by_target:{entry.target}")
    if first:
        changes.add(entry.at, "escalated")


def _common_prefix(old: list[dict[str, object]], new: list[dict[str, object]]) -> int:
    """Where the new SLA log entries start in `new`. The log is appended to and trimmed from the front (its
    last 50 entries): the longest tail of `old` that `new` starts with is what was there before."""
    for shift in range(len(old) + 1):
        if old[shift:] == new[: len(old) - shift]:
            return len(old) - shift
    return 0


def _unit(state: TicketState) -> str | None:
    return state.team or state.tier


def _time_in_tier(changes: KpiChanges, before: TicketState, after: TicketState) -> None:
    left, entered = _unit(before), before.anchors.get("tier_entered")
    if left is not None and _unit(after) != left:
        hours = _hours(entered, after.anchors.get("tier_entered"))
        if hours is not None:
            changes.value(after.anchors.get("tier_entered"), f"tier_hours:{left}", hours)


def _solved(changes: KpiChanges, after: TicketState) -> None:
    solved = after.anchors.get("solved")
    unit = _unit(after)
    stay = _hours(after.anchors.get("tier_entered"), solved)
    if unit is not None and stay is not None:
        changes.value(solved, f"tier_hours:{unit}", stay)
    changes.add(solved, "solved")
    changes.value(solved, "paused_hours", float(after.pause.get("total", 0.0)) / 3600)
    first = _first_up(after)
    if first is None:
        return
    changes.add(solved, "solved_escalated")
    changes.add(solved, "touches", after.touches)
    hours = _hours(first.at, solved)
    if hours is None:
        return
    changes.value(solved, "resolution_hours", hours)
    changes.value(solved, f"rule_hours:{first.rule or 'agent'}", hours)
    last = next(entry for entry in reversed(after.escalations) if entry.direction == "up")
    changes.value(solved, f"target_hours:{last.target}", hours)
