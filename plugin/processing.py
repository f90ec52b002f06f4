"""Apply one ticket's pending events: read the ticket back, decide, write back, remember.

The decision is a pure function of (remembered state, events, the ticket as the help desk has it now), so a
retry after a crash, a 409 or a vendor outage simply decides again; the ledger keeps comments from being
sent twice, and field changes are only sent where the ticket still differs.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace

from connectors.errors import ConflictError, TransientError
from plugin import keys
from plugin.ledger import RedisLedger
from plugin.runtime import Runtime
from rules.engine import evaluate
from rules.model import Comment, TicketEvent
from rules.plan import Plan, apply_plan
from rules.state import TicketState

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 3
"""Re-read-and-re-decide rounds after a 409 before the ticket goes back to the queue."""
JOURNAL_LENGTH = 200


@dataclass
class Outcome:
    ticket_id: str
    events: int
    plan: Plan
    writes: int
    state: TicketState


def load_state(runtime: Runtime, tenant: str, ticket_id: str) -> TicketState:
    raw = runtime.redis.get(keys.state(tenant, ticket_id))
    return TicketState.from_dict(json.loads(raw)) if raw else TicketState()


def is_own(event: TicketEvent, own_user_id: str) -> bool:
    """Escalator's own writes come back as webhooks: never a reason to fire a rule."""
    if event.actor_id == own_user_id:
        return True
    return event.comment is not None and event.comment.author_id == own_user_id


def process_ticket(runtime: Runtime, tenant: str, ticket_id: str, events: list[TicketEvent]) -> Outcome:
    client = runtime.client(tenant)
    policy = runtime.policy(tenant)
    own_id = client.own_user_id()
    base = load_state(runtime, tenant, ticket_id)
    ledger = RedisLedger(runtime.redis, tenant, ticket_id)
    ordered = sorted(events, key=lambda event: event.occurred_at)
    comments: dict[str, Comment | None] = {}
    for _attempt in range(CONFLICT_RETRIES):
        fresh = client.fetch_ticket(ticket_id)
        ticket, state, plan = fresh, base, Plan()
        for event in ordered:
            if event.detail.get("fetch_comment") and event.comment is None:
                if event.delivery_id not in comments:
                    comments[event.delivery_id] = client.latest_comment(ticket_id)
                event = replace(event, comment=comments[event.delivery_id])
            decision = evaluate(policy, state, ticket, event, own_change=is_own(event, own_id))
            state = decision.state
            plan.merge(decision.plan)
            ticket = apply_plan(ticket, decision.plan)  # later events of the batch see earlier decisions
        if not plan.has_writes():
            return Outcome(ticket_id, len(events), plan, 0, state)
        try:
            writes = client.apply(fresh, plan, ledger)
        except ConflictError:
            log.info("ticket %s/%s changed while we decided; reading it again", tenant, ticket_id)
            continue
        return Outcome(ticket_id, len(events), plan, writes, state)
    raise TransientError(f"ticket {ticket_id} kept changing during {CONFLICT_RETRIES} attempts; will retry")


def record(runtime: Runtime, tenant: str, outcome: Outcome) -> None:
    """Journal the decision and count it: the audit trail agents and admins read, and the KPIs' raw data."""
    pipe = runtime.redis.pipeline()
    if outcome.plan.reasons:
        entry = json.dumps({"at": time.time(), "reasons": outcome.plan.reasons, "writes": outcome.writes})
        pipe.lpush(keys.journal(tenant, outcome.ticket_id), entry)
        pipe.ltrim(keys.journal(tenant, outcome.ticket_id), 0, JOURNAL_LENGTH - 1)
    counters = {
        "events": outcome.events,
        "writes": outcome.writes,
        "escalations": 1 if outcome.plan.unit else 0,
        "replies": sum(comment.public for comment in outcome.plan.comments),
        "notes": sum(not comment.public for comment in outcome.plan.comments),
    }
    for name, value in counters.items():
        if value:
            pipe.hincrby(keys.metrics(tenant), name, value)
    pipe.execute()
