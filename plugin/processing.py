"""One ticket's straight pass: the claimed inbox, the ticket as the help desk has it, the fold, the write-back.

The decision is a pure function of (remembered state, events, the ticket as the help desk has it now), made
by `rules.fold` on one snapshot of the tenant (`TenantContext`: policy, client) resolved once for the pass.
A retry after a crash, a 409 or a vendor outage simply decides again; the ledger keeps comments from being
sent twice, and field changes are only sent where the ticket still differs. Once part of a plan has landed,
the saved plan (outbox) is finished rather than re-decided.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import redis

from escalator.connectors.errors import ConflictError, TransientError
from escalator.plugin import keys, outbox
from escalator.plugin.incidents import decide as incidents
from escalator.plugin.ledger import PassLedger
from escalator.plugin.tenancy import TenantContext
from escalator.rules.facts import HISTORY_FIELDS
from escalator.rules.fold import POISON_ERRORS, fold
from escalator.rules.model import Ticket, TicketEvent
from escalator.rules.plan import Plan, apply_plan
from escalator.rules.state import TicketState, instant_key

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 3
"""Re-read-and-re-decide rounds after a 409 before the ticket goes back to the queue."""
HISTORY_SECONDS = 90 * 24 * 3600

__all__ = ["POISON_ERRORS", "Batch", "Outcome", "process_ticket"]


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
    sent: list[str] = field(default_factory=list)
    """Comment ledger keys sent in this pass (recorded by the ticket's finish)."""
    ticket: Ticket | None = None
    """The ticket as this decision leaves it: which elapsed-time triggers could fire (rules.schedule); None
    for a saved decision finished later (its timers are then armed whatever their conditions)."""


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


def process_ticket(
    ctx: TenantContext,
    client: redis.Redis,
    ticket_id: str,
    raw: list[str],
    base: TicketState,
    pending: outbox.PendingDecision | None,
    *,
    ledger: PassLedger | None = None,
    batch: Batch | None = None,
    fresh: Ticket | None = None,
    history: Mapping[str, int] | None = None,
) -> Outcome:
    """Finish a saved decision if one is pending, else decide on the inbox's events and write the plan back.
    An event whose content cannot be decided on is set aside (dead-lettered); the others go through.

    A drain prepares its batch first (plugin.jobs): the decoded `batch`, the `fresh` ticket and the `history`
    facts read for many tickets at once, and the `ledger` as claimed; what is not given is read here."""
    ledger = ledger if ledger is not None else PassLedger(client, ctx.name, ticket_id, None)
    if pending is not None:
        writes = _write(ctx, ticket_id, pending.plan, ledger)
        return Outcome(
            ticket_id, pending.consumed, pending.plan, writes, pending.state, dead=pending.dead, sent=ledger.sent
        )
    batch = batch if batch is not None else Batch.decode(raw)
    for attempt in range(CONFLICT_RETRIES):
        if not batch.events:
            return Outcome(ticket_id, len(raw), Plan(), 0, base, time.time(), [], batch.dead())
        if attempt > 0:
            fresh, history = ctx.client.fetch_ticket(ticket_id), None
        elif fresh is None:
            fresh = current_ticket(ctx, ticket_id, batch, base)
        state, plan = decide(client, ctx, ticket_id, batch, fresh, base, history)
        decided = Outcome(ticket_id, len(raw), plan, 0, state, time.time(), list(batch.events), batch.dead())
        decided.ticket = apply_plan(fresh, plan)
        if not plan.has_writes():
            return decided
        saved = outbox.PendingDecision(plan, state, len(raw), decided.dead)
        ledger.before_writes(saved.to_json(), [comment.key for comment in plan.comments])
        try:
            writes = ctx.client.apply(fresh, plan, ledger)
        except ConflictError:
            if any(ledger.state(comment.key) == "sent" for comment in plan.comments):
                # Part of the plan landed: finish it rather than re-decide against our own change.
                return replace(decided, writes=_write(ctx, ticket_id, plan, ledger), sent=ledger.sent)
            # Nothing landed and the ticket changed under us: decide again on what it is now.
            ledger.discard()
            log.info("ticket %s/%s changed while we decided; deciding again", ctx.name, ticket_id)
            continue
        return replace(decided, writes=writes, sent=ledger.sent)
    raise TransientError(f"ticket {ticket_id} kept changing during {CONFLICT_RETRIES} attempts; will retry")


def current_ticket(ctx: TenantContext, ticket_id: str, batch: Batch, state: TicketState) -> Ticket:
    """The ticket to decide on: from the events' own snapshots where the connector can (one API call fewer
    per event), read back when the events are older than what the state has already seen. A snapshot that
    cannot be read condemns its event, and the next newest is tried."""
    client = ctx.snapshot_reader
    if client is None:
        return ctx.client.fetch_ticket(ticket_id)
    while batch.events:
        seen = state.last_event_at
        newest = max(event.occurred_at for event in batch.events)
        behind = seen is not None and instant_key(seen) > newest
        try:
            return client.ticket_for(ticket_id, batch.events, fields=ctx.policy.fields_read, read_back=behind)
        except POISON_ERRORS as error:
            culprit = max(
                (event for event in batch.events if event.snapshot is not None), key=lambda event: event.occurred_at
            )
            batch.condemn(culprit, error)
    return ctx.client.fetch_ticket(ticket_id)


def read_history(client: redis.Redis, ctx: TenantContext, ticket: Ticket) -> dict[str, int]:
    """The organization's and requester's critical tickets of the last 90 days, read only when the policy asks
    for them (one round trip)."""
    return read_histories(client, ctx, [ticket])[0]


def read_histories(client: redis.Redis, ctx: TenantContext, tickets: Sequence[Ticket]) -> list[dict[str, int]]:
    """`read_history` for many tickets (a drain's batch) in one round trip, none when the policy reads no
    history fields."""
    wanted = [name for name in HISTORY_FIELDS if name in ctx.policy.fields_read]
    if not wanted:
        return [{} for _ in tickets]
    since = time.time() - HISTORY_SECONDS
    pipe = client.pipeline(transaction=False)
    asked: list[list[str]] = []
    for ticket in tickets:
        organization = ticket.organization.id if ticket.organization else None
        records = {
            "organization.history.critical_90d": ("organization", organization),
            "requester.history.critical_90d": ("requester", ticket.requester.id),
        }
        asked.append([])
        for name in wanted:
            kind, record = records[name]
            if record:
                pipe.zcount(keys.history(ctx.name, kind, str(record)), since, "+inf")
                asked[-1].append(name)
    counts = iter(pipe.execute() if any(asked) else [])
    return [{name: int(next(counts)) for name in names} for names in asked]


def decide(
    client: redis.Redis,
    ctx: TenantContext,
    ticket_id: str,
    batch: Batch,
    fresh: Ticket,
    state: TicketState,
    history: Mapping[str, int] | None = None,
) -> tuple[TicketState, Plan]:
    """Fetch what the events lack (a trigger webhook's comment text), then fold them (pure: rules.fold);
    `history`: the ticket's history facts when already read (else read here)."""
    events = [
        replace(event, comment=ctx.client.latest_comment(ticket_id))
        if event.detail.get("fetch_comment") and event.comment is None
        else event
        for event in batch.events
    ]
    history = read_history(client, ctx, fresh) if history is None else history
    seen = incidents.view(client, ctx, ticket_id)
    own = ctx.client.own_user_id()
    folded = fold(ctx.policy, state, fresh, events, own_user_id=own, history=history, incidents=seen)
    opened = incidents.detect(client, ctx, fresh, folded.plan, seen)
    if opened is not None:  # an incident just opened (or another worker's did): join it rather than escalate
        folded = fold(ctx.policy, state, fresh, events, own_user_id=own, history=history, incidents=opened)
    incidents.follow_up(client, ctx, fresh, folded.plan)
    for event, error in folded.condemned:
        log.warning("%s: event %s cannot be evaluated, dead-lettered: %s", ticket_id, event.delivery_id, error)
        original = next(item for item in batch.events if item.delivery_id == event.delivery_id)
        batch.condemn(original, error)
    return folded.state, folded.plan


def _write(ctx: TenantContext, ticket_id: str, plan: Plan, ledger: PassLedger) -> int:
    """Write a saved plan; a 409 only means our stamp is old, so read the ticket again and carry on."""
    ledger.before_writes(None, [comment.key for comment in plan.comments])
    for _attempt in range(CONFLICT_RETRIES):
        try:
            return ctx.client.apply(ctx.client.fetch_ticket(ticket_id), plan, ledger)
        except ConflictError:
            continue
    raise TransientError(f"ticket {ticket_id} kept changing during {CONFLICT_RETRIES} attempts; will retry")
