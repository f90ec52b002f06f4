"""Pause integrity: when waiting on the customer may stop the clocks, and when it looks like gaming.

A pause status (pending, on hold: the SLA row's `pause_on`) stops SLA clocks only when it is honest and
within bounds (DESIGN §5, the `pausing` section and the SLA rows' overrides):

- `pause_needs_reply_within`: a pause counts only if a person replied publicly to the customer in that window
  before it began (or replies during it, from then on): parking a ticket without asking anything stops
  nothing;
- `max_pause`: wall-clock time a ticket's clocks may stand still in all, summed over its pauses; past it,
  the clocks run again though the status still says pending (a timer fires at that very instant);
- `suspicious_pauses`: the ticket put into a pause status this many times raises `sla.pause_suspicious`
  (once per ticket), for a rule to tell the lead.

Pure, like the rest of the engine: the state keeps the pause as it is (`PauseState`), the clocks follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from escalator.rules.durations import humanize
from escalator.rules.model import Ticket, format_instant, parse_instant
from escalator.rules.observe import move_anchor
from escalator.rules.policy import PauseRules, Policy
from escalator.rules.state import TicketState

SUSPICIOUS = "sla.pause_suspicious"


@dataclass
class PauseState:
    """A ticket's pause, kept in its state (`TicketState.pause`)."""

    since: str | None = None
    """When the ticket entered its current pause status (None: not in one)."""
    honored_since: str | None = None
    """When the clocks stopped for the current pause (None: they run, e.g. no public question was asked)."""
    total: float = 0.0
    """Wall seconds the clocks stood still in earlier stretches."""
    count: int = 0
    """How many times the ticket entered a pause status."""
    reason: str = ""
    """Why the clocks run or stand still right now, in words (for `escalator why` and the escalation JSON)."""
    by: dict[str, float] | None = None
    """Honored pause seconds per assignee (agent id; "" unassigned), for the KPIs."""
    flagged: bool = False
    """`sla.pause_suspicious` was raised for this ticket."""
    resumes_at: str | None = None
    """When `max_pause` runs out if the pause goes on: the clocks resume then (a timer fires at that instant)."""

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "by": dict(self.by or {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PauseState:
        return cls(**data) if data else cls()

    @property
    def honored(self) -> bool:
        return self.honored_since is not None


def rules_for(policy: Policy, unit: str | None, ticket: Ticket, segments: tuple[str, ...]) -> PauseRules:
    """The policy's `pausing` defaults with the applicable SLA row's overrides."""
    sla = policy.sla_for(unit, ticket.priority, segments) if unit else None
    base = policy.pausing
    if sla is None:
        return base
    return PauseRules(
        pause_on=sla.pause_on,
        max_pause=sla.max_pause if sla.max_pause is not None else base.max_pause,
        needs_reply_within=sla.needs_reply_within if sla.needs_reply_within is not None else base.needs_reply_within,
        suspicious_pauses=base.suspicious_pauses,
    )


def _close_stretch(pause: PauseState, end: datetime, assignee: str | None) -> None:
    start = parse_instant(pause.honored_since)
    if start is not None and end > start:
        seconds = (end - start).total_seconds()
        pause.total += seconds
        by = dict(pause.by or {})
        by[assignee or ""] = by.get(assignee or "", 0.0) + seconds
        pause.by = by
    pause.honored_since = None


def cap_instant(pause: PauseState, rules: PauseRules) -> datetime | None:
    """When the current honored pause reaches `max_pause` (None: no cap, or not standing still)."""
    start = parse_instant(pause.honored_since)
    if start is None or rules.max_pause is None:
        return None
    return start + timedelta(seconds=max(0.0, rules.max_pause - pause.total))


def update_pause(state: TicketState, ticket: Ticket, at: datetime, rules: PauseRules) -> list[str]:
    """The pause after this event; returns `sla.pause_suspicious` when the ticket just crossed the threshold.
    Call after the event was observed (the anchors are current) and before the clocks are updated."""
    if ticket.status not in rules.pause_on and _at_rest(state.pause):
        return []  # not paused, and nothing of a pause left to close: what the steps below would leave
    pause = PauseState.from_dict(state.pause)
    raised: list[str] = []
    assignee = state.assignee
    if ticket.status not in rules.pause_on:
        _close_stretch(pause, at, assignee)
        pause.since, pause.reason, pause.resumes_at = None, "", None
        state.pause = pause.to_dict()
        return raised
    if pause.since is None:
        pause.since = format_instant(at)
        pause.count += 1
        if rules.suspicious_pauses and pause.count >= rules.suspicious_pauses and not pause.flagged:
            pause.flagged = True
            raised.append(SUSPICIOUS)
    capped = cap_instant(pause, rules)
    if capped is not None and capped <= at:
        _close_stretch(pause, capped, assignee)
        pause.total = float(rules.max_pause or pause.total)
        move_anchor(state, "agent_activity", format_instant(capped))  # back in our court: silence counts from now
    spent = rules.max_pause is not None and pause.total >= rules.max_pause
    if spent:
        pause.reason = f"the clocks run: paused {humanize(pause.total)} in all, the most allowed"
    elif not _asked(state, pause, rules):
        _close_stretch(pause, at, assignee)
        window = humanize(rules.needs_reply_within or 0)
        pause.reason = f"the clocks run: nobody replied to the customer in the {window} before the pause"
    else:
        if pause.honored_since is None:
            pause.honored_since = format_instant(at)
        pause.reason = f"the clocks stand still: waiting on the customer ({ticket.status})"
    resumes = cap_instant(pause, rules)
    pause.resumes_at = format_instant(resumes) if resumes is not None else None
    state.pause = pause.to_dict()
    return raised


_FIELDS = frozenset(PauseState.__dataclass_fields__)


def _at_rest(data: dict[str, Any] | None) -> bool:
    """A pause as `update_pause` leaves it outside a pause status (all fields written, `by` a dict)."""
    return (
        type(data) is dict
        and data.keys() == _FIELDS
        and data.get("since") is None
        and data.get("honored_since") is None
        and data.get("reason") == ""
        and data.get("resumes_at") is None
        and type(data.get("by")) is dict
    )


def _asked(state: TicketState, pause: PauseState, rules: PauseRules) -> bool:
    """Whether a person replied publicly within the window before the pause began, or since."""
    if rules.needs_reply_within is None:
        return True
    replied, began = parse_instant(state.anchors.get("agent_reply")), parse_instant(pause.since)
    if replied is None or began is None:
        return False
    return replied >= began - timedelta(seconds=rules.needs_reply_within)
