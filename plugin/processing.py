"""Apply one ticket's pending events: read the ticket back, decide, write back, remember.

The decision is a pure function of (remembered state, events, the ticket as the help desk has it now), so a
retry after a crash, a 409 or a vendor outage simply decides again; the ledger keeps comments from being
sent twice, and field changes are only sent where the ticket still differs.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace

from escalator.connectors.base import DeskClient, SnapshotReader
from escalator.connectors.errors import ConflictError, TransientError
from escalator.plugin import keys, outbox
from escalator.plugin.ledger import RedisLedger
from escalator.plugin.runtime import Runtime
from escalator.rules.engine import evaluate
from escalator.rules.model import Ticket, TicketEvent, format_instant
from escalator.rules.plan import Plan, apply_plan
from escalator.rules.policy import Policy
from escalator.rules.state import TicketState, instant_key

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 3
"""Re-read-and-re-decide rounds after a 409 before the ticket goes back to the queue."""
JOURNAL_LENGTH = 200


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
"""Errors that come from one event's content (a malformed snapshot, an impossible date), not from the help
desk or Redis: the event is dead-lettered alone, at once, and the ticket's other events go through."""


@dataclass
class Outcome:
    ticket_id: str
    consumed: int
    """Inbox events this outcome covers (a resumed decision covers the events it was made for)."""
    plan: Plan
    writes: int
    state: TicketState
    decided_at: float | None = None
    """Wall-clock time of the decision (None for a saved decision finished later)."""
    events: list[TicketEvent] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    """(raw event, error) of the poison events among those consumed: dead-lettered when the ticket finishes."""


@dataclass
class Batch:
    """One ticket's inbox, read: the events that decode, and the ones that do not (with why)."""

    raw: list[str]
    events: list[TicketEvent]
    poison: dict[str, str]
    """delivery id (or raw text, for an event that does not decode) -> error."""

    @classmethod
    def decode(cls, raw: list[str]) -> Batch:
        events: list[TicketEvent] = []
        poison: dict[str, str] = {}
        for text in raw:
            try:
                events.append(TicketEvent.from_json(text))
            except POISON_ERRORS as error:
                poison[text] = f"unreadable event: {type(error).__name__}: {error}"
        return cls(raw, events, poison)

    def condemn(self, event: TicketEvent, error: BaseException) -> None:
        self.poison[event.delivery_id] = f"{type(error).__name__}: {error}"
        self.events = [other for other in self.events if other is not event]

    def dead(self) -> list[tuple[str, str]]:
        """(raw, error) for every poison event, in inbox order."""
        if not self.poison:
            return []
        found: list[tuple[str, str]] = []
        for text in self.raw:
            if text in self.poison:
                found.append((text, self.poison[text]))
                continue
            try:
                delivery = json.loads(text).get("delivery_id")
            except ValueError:
                continue
            if delivery in self.poison:
                found.append((text, self.poison[delivery]))
        return found


def load_state(runtime: Runtime, tenant: str, ticket_id: str) -> TicketState:
    raw = runtime.redis.get(keys.state(tenant, ticket_id))
    return TicketState.from_dict(json.loads(raw)) if raw else TicketState()


def is_own(event: TicketEvent, own_user_id: str) -> bool:
    """Escalator's own writes come back as webhooks: never a reason to fire a rule."""
    if event.actor_id == own_user_id:
        return True
    return event.comment is not None and event.comment.author_id == own_user_id


def process_ticket(runtime: Runtime, tenant: str, ticket_id: str, raw: list[str]) -> Outcome:
    """Finish a saved decision if one is pending, else decide on the inbox's events and write the plan back.
    An event whose content cannot be decided on is set aside (dead-lettered); the others go through."""
    pending = outbox.load(runtime.redis, tenant, ticket_id)
    if pending is not None:
        writes = _write(runtime, tenant, ticket_id, pending.plan)
        return Outcome(ticket_id, pending.consumed, pending.plan, writes, pending.state, dead=pending.dead)
    batch = Batch.decode(raw)
    client = runtime.client(tenant)
    policy = runtime.policy(tenant)  # one policy for the whole decision, even if the file changes meanwhile
    base = load_state(runtime, tenant, ticket_id)  # unchanged until `finish`, so read once for every attempt
    for attempt in range(CONFLICT_RETRIES):
        if not batch.events:
            return Outcome(ticket_id, len(raw), Plan(), 0, base, time.time(), [], batch.dead())
        fresh = (
            current_ticket(runtime, tenant, ticket_id, batch, base) if attempt == 0 else client.fetch_ticket(ticket_id)
        )
        state, plan = decide(client, policy, ticket_id, batch, fresh, base)
        decided = Outcome(ticket_id, len(raw), plan, 0, state, time.time(), list(batch.events), batch.dead())
        if not plan.has_writes():
            return decided
        outbox.save(runtime.redis, tenant, ticket_id, outbox.PendingDecision(plan, state, len(raw), decided.dead))
        ledger = RedisLedger(runtime.redis, tenant, ticket_id)
        try:
            writes = client.apply(fresh, plan, ledger)
        except ConflictError:
            if any(ledger.state(comment.key) == "sent" for comment in plan.comments):
                # Part of the plan landed: finish it rather than re-decide against our own change.
                return replace(decided, writes=_write(runtime, tenant, ticket_id, plan))
            # Nothing landed and the ticket changed under us: decide again on what it is now.
            outbox.discard(runtime.redis, tenant, ticket_id)
            log.info("ticket %s/%s changed while we decided; deciding again", tenant, ticket_id)
            continue
        return replace(decided, writes=writes)
    raise TransientError(f"ticket {ticket_id} kept changing during {CONFLICT_RETRIES} attempts; will retry")


def current_ticket(runtime: Runtime, tenant: str, ticket_id: str, batch: Batch, state: TicketState) -> Ticket:
    """The ticket to decide on: from the events' own snapshots where the connector can (one API call fewer
    per event), read back when the events are older than what the state has already seen. A snapshot that
    cannot be read condemns its event, and the next newest is tried."""
    client = runtime.client(tenant)
    if not isinstance(client, SnapshotReader):
        return client.fetch_ticket(ticket_id)
    while batch.events:
        seen = state.last_event_at
        newest = max(event.occurred_at for event in batch.events)
        behind = seen is not None and instant_key(seen) > newest
        fields = runtime.policy(tenant).fields_read
        try:
            return client.ticket_for(ticket_id, batch.events, fields=fields, read_back=behind)
        except POISON_ERRORS as error:
            culprit = max(
                (event for event in batch.events if event.snapshot is not None), key=lambda event: event.occurred_at
            )
            batch.condemn(culprit, error)
    return client.fetch_ticket(ticket_id)


def decide(
    client: DeskClient, policy: Policy, ticket_id: str, batch: Batch, fresh: Ticket, state: TicketState
) -> tuple[TicketState, Plan]:
    """Evaluate the events in order against the remembered state and the ticket as it is now. An event the
    engine cannot evaluate is condemned (its effects dropped) and the others carry on from the state before it."""
    own_id = client.own_user_id()
    plan, ticket = Plan(), fresh  # evaluate() copies the state; the caller's stays untouched
    for event in sorted(batch.events, key=lambda event: event.occurred_at):
        if event.detail.get("fetch_comment") and event.comment is None:
            event = replace(event, comment=client.latest_comment(ticket_id))
        try:
            decision = evaluate(policy, state, ticket, event, own_change=is_own(event, own_id))
            after = apply_plan(ticket, decision.plan)  # later events of the batch see earlier decisions
        except POISON_ERRORS as error:
            log.warning("%s: event %s cannot be evaluated, dead-lettered: %s", ticket_id, event.delivery_id, error)
            batch.condemn(event, error)
            continue
        state, ticket = decision.state, after
        plan.merge(decision.plan)
    return state, plan


def _write(runtime: Runtime, tenant: str, ticket_id: str, plan: Plan) -> int:
    """Write a saved plan; a 409 only means our stamp is old, so read the ticket again and carry on."""
    client = runtime.client(tenant)
    ledger = RedisLedger(runtime.redis, tenant, ticket_id)
    for _attempt in range(CONFLICT_RETRIES):
        try:
            return client.apply(client.fetch_ticket(ticket_id), plan, ledger)
        except ConflictError:
            continue
    raise TransientError(f"ticket {ticket_id} kept changing during {CONFLICT_RETRIES} attempts; will retry")


def record(runtime: Runtime, tenant: str, outcome: Outcome) -> None:
    """Journal the decision and count it: the audit trail agents and admins read, and the KPIs' raw data."""
    pipe = runtime.redis.pipeline()
    if outcome.plan.reasons:
        entry = json.dumps(
            {
                "at": time.time(),
                "decided_at": outcome.decided_at,
                "events": [[event.kind, format_instant(event.occurred_at)] for event in outcome.events],
                "reasons": outcome.plan.reasons,
                "writes": outcome.writes,
            }
        )
        pipe.lpush(keys.journal(tenant, outcome.ticket_id), entry)
        pipe.ltrim(keys.journal(tenant, outcome.ticket_id), 0, JOURNAL_LENGTH - 1)
    counters = {
        "events": outcome.consumed,
        "writes": outcome.writes,
        "escalations": 1 if outcome.plan.unit else 0,
        "replies": sum(comment.public for comment in outcome.plan.comments),
        "notes": sum(not comment.public for comment in outcome.plan.comments),
    }
    for name, value in counters.items():
        if value:
            pipe.hincrby(keys.metrics(tenant), name, value)
    pipe.execute()
