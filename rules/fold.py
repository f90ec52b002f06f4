"""One ticket's batch of events, folded through the engine in order: the pure heart of a worker's pass.

The worker gathers the events and the ticket as the help desk has it (I/O), then `fold` decides (no I/O):
each event is evaluated against the state the previous ones left and the ticket as the plans so far would
leave it, and the plans merge into one write-back. An event whose content the engine cannot evaluate (a
malformed snapshot, an impossible date) is condemned alone: the others carry on from the state before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from escalator.rules.engine import evaluate
from escalator.rules.incidents import NO_INCIDENTS, IncidentView
from escalator.rules.model import Ticket, TicketEvent
from escalator.rules.plan import Plan, apply_plan
from escalator.rules.policy import Policy
from escalator.rules.state import TicketState

POISON_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    OverflowError,
    RecursionError,
    AssertionError,
)
"""Errors that come from one event's content, not from the help desk or Redis: the event is dead-lettered
alone, at once, and the ticket's other events go through."""


@dataclass
class Folded:
    state: TicketState
    plan: Plan
    condemned: list[tuple[TicketEvent, BaseException]] = field(default_factory=list)


def is_own(event: TicketEvent, own_user_id: str) -> bool:
    """Escalator's own writes come back as webhooks: never a reason to fire a rule."""
    if event.actor_id == own_user_id:
        return True
    return event.comment is not None and event.comment.author_id == own_user_id


def fold(
    policy: Policy,
    state: TicketState,
    ticket: Ticket,
    events: Sequence[TicketEvent],
    *,
    own_user_id: str,
    history: Mapping[str, int] | None = None,
    incidents: IncidentView = NO_INCIDENTS,
) -> Folded:
    """Evaluate `events` in event-time order; `state` is not changed (evaluate works on copies). `history`:
    the history facts of the ticket's organization and requester (rules.facts.HISTORY_FIELDS)."""
    result = Folded(state, Plan())
    decided = False
    for event in sorted(events, key=lambda event: event.occurred_at):
        try:
            own = is_own(event, own_user_id)
            decision = evaluate(
                policy, result.state, ticket, event, own_change=own, history=history, incidents=incidents
            )
            after = apply_plan(ticket, decision.plan)  # later events of the batch see earlier decisions
        except POISON_ERRORS as error:
            result.condemned.append((event, error))
            continue
        result.state, ticket = decision.state, after
        if decided:
            result.plan.merge(decision.plan)
        else:
            result.plan = decision.plan  # what merging it into the empty plan would make
            decided = True
    return result
