"""`escalator why` as text: a ticket's place, moves, journal, SLA clocks, pause and next steps, from the
Explanation that plugin.explain builds (the escalation JSON's source too)."""

from __future__ import annotations

from datetime import datetime

from escalator.plugin.explain import Clock, Explanation
from escalator.rules.durations import humanize
from escalator.rules.model import format_instant
from escalator.rules.policy import Policy


def format_text(tenant: str, explanation: Explanation, policy: Policy, now: datetime) -> str:
    """`escalator why`: every decision with the rule or agent, the reason and the time; clocks; what next."""
    e = explanation
    place = " / ".join(_unit_name(policy, unit) for unit in (e.tier, e.team) if unit) or "no tier"
    lines = [
        f"ticket {e.ticket_id} of {tenant}: {place}, group {e.group or '-'}"
        + (", escalated" if e.escalated else ", not escalated"),
        f"  status {e.status or '-'}, priority {e.priority or '-'}, assignee {e.assignee or '-'}, "
        f"owner {e.owner or '-'}, bounces {e.bounces}",
    ]
    if e.trail:
        lines.append(f"  trail: {' -> '.join(e.trail)}")
    lines.append("")
    lines.append("moves:" if e.moves else "moves: none")
    for move in e.moves:
        kind = {"up": "escalated", "down": "de-escalated", "route": "routed"}.get(move.direction, move.direction)
        who = f"rule {move.rule}" if move.by == "rule" else f"agent {move.actor or '(unknown)'}"
        because = f": {move.reason}" if move.reason else ""
        lines.append(f"  {move.at}  {kind} {move.source or '-'} -> {move.target} by {who}{because}")
    lines.append("")
    lines.append("journal (oldest first):" if e.journal else "journal: empty")
    for decision in e.journal:
        when = format_instant(decision.at.replace(microsecond=0)) if decision.at else "?"
        events = ", ".join(f"{kind} ({at})" for kind, at in decision.events) or "no events"
        writes = f", {decision.writes} write(s)" if decision.writes else ""
        lines.append(f"  {when}  {events}{writes}")
        lines.extend(f"      {reason}" for reason in decision.reasons)
    lines.append("")
    lines.append("SLA clocks:" if e.clocks else "SLA clocks: none running")
    for clock in e.clocks:
        lines.append(f"  {_clock_text(clock, now)}")
    if e.pause.get("since") or e.pause.get("pauses"):
        lines.append(f"  pause: {e.pause['reason']} ({e.pause['pauses']} pause(s), {e.pause['paused_hours']} h in all)")
    lines.append("")
    lines.append("next:" if e.next else "next: nothing scheduled")
    for step in e.next:
        lines.append(f"  {format_instant(step.at.replace(microsecond=0))}  {step.what}")
    return "\n".join(lines)


def _unit_name(policy: Policy, unit_id: str) -> str:
    unit = policy.unit(unit_id)
    return f"{unit_id} ({unit.name})" if unit is not None and unit.name != unit_id else unit_id


def _clock_text(clock: Clock, now: datetime) -> str:
    head = f"{clock.metric.replace('_', ' ')}{f' ({clock.unit})' if clock.unit else ''}"
    used = f"{humanize(clock.elapsed)} of {humanize(clock.target)} used"
    if clock.done_at is not None:
        return f"{head}: {'breached, then ' if clock.breached else ''}met at {clock.done_at}"
    if clock.paused:
        return f"{head}: paused, {used}{', breached' if clock.breached else ''}"
    if clock.due is None:
        return f"{head}: breached, running ({used})"
    due = format_instant(clock.due.replace(microsecond=0))
    if clock.breached:
        return f"{head}: breached, was due {due} ({humanize((now - clock.due).total_seconds())} ago)"
    return f"{head}: due {due} (in {humanize((clock.due - now).total_seconds())}), running"
