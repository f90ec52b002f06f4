"""The durable event path between the webhook receiver and the workers, per tenant, in Redis.

A delivery is deduplicated and queued in one atomic script, so a 202 always means "durably queued" and a
repeat is never queued twice. Events wait in a per-ticket inbox; a ticket with events sits in the tenant's
`ready` set until a drain claims it under a lease (one worker per ticket, so events apply in order). A drain
is started by a drain token: an RQ job carries it on one server or Sentinel; on a cluster (where RQ cannot
run) workers take tokens from the tenant's hand-over list themselves (plugin.dispatch). Either way a drain
works through many tickets, in batches: one round trip claims a batch with everything needed to decide on
it, one records the whole batch (plugin.queue_scripts). A crashed worker's lease simply expires and its
tickets are claimed again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from escalator.plugin import keys, queue_scripts
from escalator.plugin.finishing import Finish, Finished, Op, finish_args
from escalator.plugin.leases import DRAINER_LEASE_SECONDS, TICKET_LEASE_SECONDS, HeldLeases, Lease
from escalator.plugin.ledger import LEDGER_SECONDS
from escalator.plugin.timers import TimerStore
from escalator.rules.model import TicketEvent

log = logging.getLogger(__name__)

__all__ = ["Claimed", "DeadLetter", "EventQueue", "Finish", "Finished", "Offer", "Op"]

DEDUPE_SECONDS = 7 * 24 * 3600
"""How long a delivery id is remembered: longer than any vendor's retry schedule (Freshdesk: ~1.5 h)."""
JOURNAL_LENGTH = 200
"""Decisions kept per ticket (newest first): what fired, what was held back, why."""
MAX_ATTEMPTS = 10
"""Processing attempts per ticket before its events go to the dead-letter list (about 1.5 h of backoff)."""
CLAIM_BATCH = 32
"""Tickets one claim leases: enough to spread a round trip over many quick decisions, few enough that a
batch holding a slow write-back delays little else (finished tickets are recorded as the batch goes on)."""
WAKE_CHANNEL = f"{keys.PREFIX}:drains:wake"
"""Where new drain tokens are announced (by tenant name) to workers that serve the ready sets themselves.
Plain PUBLISH reaches every node of a cluster, so one subscription anywhere hears every tenant."""


@dataclass(frozen=True)
class DeadLetter:
    """An event that failed for good, kept with why: listed and replayed by `escalator dead-letters`."""

    ticket_id: str
    event: dict[str, Any]
    error: str
    buried_at: float
    attempts: int | None = None

    @classmethod
    def from_raw(cls, raw: bytes | str) -> DeadLetter:
        data = json.loads(raw)
        event = data.get("event") if isinstance(data.get("event"), dict) else {}
        return cls(
            ticket_id=str(event.get("ticket_id", "?")),
            event=event,
            error=str(data.get("error", "")),
            buried_at=float(data.get("buried_at", 0.0)),
            attempts=data.get("attempts"),
        )


@dataclass(frozen=True)
class Claimed:
    """A leased ticket and what a worker needs to decide on it, read with the lease."""

    ticket_id: str
    raw: list[str]
    """Its inbox, oldest first, as stored: the worker decodes each event itself (one it cannot read is set
    aside alone)."""
    state_json: str
    outbox_json: str
    ledger: Mapping[str, str] | None = None
    """Its comment ledger (key -> "sending"/"sent") as the claim found it; None when not read."""


@dataclass(frozen=True)
class Offer:
    accepted: bool
    """False for a delivery seen before (answered 200, nothing queued)."""
    drain_token: str | None = None
    """A new drain token the caller must hand to an RQ job (None: none, or already handed over in Redis)."""


@dataclass(frozen=True)
class Counting:
    """Counters an intake call bumps in the tenant's metrics hash with the events it queues."""

    accepted: str = ""
    """Field counting queued events ('' none)."""
    duplicate: str = ""
    """Field counting repeats ('' none)."""
    extra: Mapping[str, int] | None = None
    """Further increments, whatever the outcome (e.g. how late fired timers were)."""


class EventQueue:
    def __init__(self, client: redis.Redis, *, max_drainers: int = 2, hand_over: bool = False) -> None:
        """`hand_over`: new drain tokens go on the tenant's hand-over list (workers serve it without RQ: a
        cluster) instead of back to the caller for an RQ job."""
        self.redis = client
        self.max_drainers = max_drainers
        self.hand_over = hand_over
        self._intake = client.register_script(queue_scripts.INTAKE)
        self._claim = client.register_script(queue_scripts.CLAIM)
        self._finish = client.register_script(queue_scripts.FINISH)
        self._defer = client.register_script(queue_scripts.DEFER)
        self._acquire = client.register_script(queue_scripts.ACQUIRE_DRAINER)
        self._reclaim = client.register_script(queue_scripts.RECLAIM)
        self._replay = client.register_script(queue_scripts.REPLAY)
        self._release_drainer = client.register_script(queue_scripts.RELEASE_DRAINER)
        self._hold_drainer = client.register_script(queue_scripts.HOLD_DRAINER)
        self.leases = HeldLeases(client)
        """What this process holds: renewed while it works, handed back when it stops."""
        self._stores: dict[str, TimerStore] = {}
        self.owner = uuid.uuid4().hex
        """Who claims tickets through this queue (keys.owners): a finish or hand-back checks it still holds them."""

    # --- receiver side -----------------------------------------------------------------------------------

    def offer(self, tenant: str, event: TicketEvent, counting: Counting | None = None) -> Offer:
        """Queue the event unless this delivery was seen before, in one atomic step that also hands out a
        drain token when fewer than `max_drainers` drains run (and counts the outcome, if asked)."""
        flags, token = self.offer_many(tenant, [event], counting)
        return Offer(accepted=bool(flags[0]), drain_token=token)

    def offer_many(
        self, tenant: str, events: Sequence[TicketEvent], counting: Counting | None = None
    ) -> tuple[list[bool], str | None]:
        """Queue many events (timers, a reconciliation pass) in one step; returns which were queued (False:
        seen before) and a drain token for an RQ job, if one was handed out."""
        counting = counting or Counting()
        token, now = uuid.uuid4().hex, time.time()
        extra = [item for name, n in (counting.extra or {}).items() if n for item in (name, n)]
        triples = [item for event in events for item in (event.delivery_id, event.ticket_id, event.to_json())]
        answer = self._intake(
            keys=[keys.ready(tenant), keys.drainers(tenant), keys.metrics(tenant), keys.hand_over(tenant)],
            args=[
                now,
                DEDUPE_SECONDS,
                self.max_drainers,
                token,
                now + DRAINER_LEASE_SECONDS,
                int(self.hand_over),
                WAKE_CHANNEL,
                tenant,
                keys.dedupe(tenant, ""),
                keys.inbox(tenant, ""),
                counting.accepted,
                counting.duplicate,
                len(extra) // 2,
                *extra,
                *triples,
            ],
        )
        handed = int(answer[-1]) == 2 and not self.hand_over
        return [bool(int(flag)) for flag in answer[:-1]], token if handed else None

    def acquire_drainer(self, tenant: str, *, keep: bool = False) -> str | None:
        """A drain token if fewer than `max_drainers` run for the tenant, else None. In hand-over mode the token
        is also put on the tenant's hand-over list for a worker to take, unless the caller `keep`s it (a drain
        carrying on under a new token); otherwise the caller hands it to an RQ job."""
        token = uuid.uuid4().hex
        now = time.time()
        got = self._acquire(
            keys=[keys.drainers(tenant), keys.hand_over(tenant)],
            args=[
                now,
                self.max_drainers,
                token,
                now + DRAINER_LEASE_SECONDS,
                int(self.hand_over and not keep),
                WAKE_CHANNEL,
                tenant,
            ],
        )
        return token if got else None

    def take_token(self, tenant: str) -> str | None:
        """A drain token waiting on the tenant's hand-over list (hand-over mode), or None."""
        token: bytes | str | None = self.redis.lpop(keys.hand_over(tenant))  # type: ignore[assignment]
        return keys.as_text(token) if token else None

    def tokens_waiting(self, tenant: str) -> int:
        return int(self.redis.llen(keys.hand_over(tenant)))

    # --- worker side -------------------------------------------------------------------------------------

    def claim_batch(self, tenant: str, token: str = "", limit: int = CLAIM_BATCH) -> list[Claimed]:
        """Lease up to `limit` due tickets nobody holds, each with its inbox, state, saved plan and comment
        ledger (one round trip); the drain `token`, if given, is renewed on the way."""
        now = time.time()
        until = now + TICKET_LEASE_SECONDS
        found = self._claim(
            keys=[keys.ready(tenant), keys.processing(tenant), keys.drainers(tenant), keys.owners(tenant)],
            args=[
                now,
                until,
                token,
                now + DRAINER_LEASE_SECONDS,
                keys.inbox(tenant, ""),
                keys.state(tenant, ""),
                keys.outbox(tenant, ""),
                keys.ledger(tenant, ""),
                limit,
                self.owner,
            ],
        )
        claimed = []
        for ticket, raw, state, saved, ledger in found:
            ticket_id = keys.as_text(ticket)
            self.leases.hold(Lease(tenant, ticket_id, ticket=True), until)
            pairs = [keys.as_text(item) for item in ledger]
            claimed.append(
                Claimed(
                    ticket_id,
                    [keys.as_text(item) for item in raw],
                    keys.as_text(state),
                    keys.as_text(saved),
                    dict(zip(pairs[::2], pairs[1::2], strict=True)),
                )
            )
        return claimed

    def pending(self, tenant: str, ticket_id: str) -> list[TicketEvent]:
        return [TicketEvent.from_json(raw) for raw in self.redis.lrange(keys.inbox(tenant, ticket_id), 0, -1)]

    def finish_many(self, tenant: str, finished: Sequence[Finished]) -> None:
        """For every finished ticket, in one step: drop its applied events, save its state, clear its saved
        plan and failure count, record the comments sent, journal the decision; for the batch: move poison
        events to the dead letters, count, update KPI aggregates and re-arm timers. Tickets that received
        more events meanwhile are ready again at once."""
        if not finished:
            return
        timers = self._timers(tenant)
        counts, rest = finish_args(finished)
        _, skipped, lost = self._finish(
            keys=[
                keys.processing(tenant),
                keys.ready(tenant),
                keys.dead_letters(tenant),
                keys.attempts(tenant),
                *timers.keys(),
                keys.owners(tenant),
            ],
            args=[
                time.time(),
                timers.wake_channel,
                JOURNAL_LENGTH,
                LEDGER_SECONDS,
                keys.inbox(tenant, ""),
                keys.state(tenant, ""),
                keys.outbox(tenant, ""),
                keys.journal(tenant, ""),
                keys.ledger(tenant, ""),
                *counts,
                self.owner,
                *rest,
            ],
        )
        if int(lost):
            log.warning(
                "%s: %d ticket(s) were taken over by another worker after this one's lease ran out (Redis "
                "unreachable for longer than the lease?); their events are decided again there",
                tenant,
                int(lost),
            )
        if int(skipped):
            log.error(
                "%s: %d counter, KPI or timer update(s) of %d finished ticket(s) refused by Redis (a key of the "
                "wrong type?); the tickets themselves were recorded",
                tenant,
                int(skipped),
                len(finished),
            )
        for item in finished:
            self._let_go(tenant, item.ticket_id)

    def _timers(self, tenant: str) -> TimerStore:
        """The tenant's timer store (its keys and wake channel for FINISH), built once: a store registers its
        scripts when made, and every batch finish would make one again."""
        store = self._stores.get(tenant)
        if store is None:
            store = self._stores[tenant] = TimerStore(self.redis, keys.timers(tenant))
        return store

    def finish(self, tenant: str, ticket_id: str, consumed: int, done: Finish | None = None) -> None:
        """One ticket's `finish_many`."""
        self.finish_many(tenant, [Finished(ticket_id, consumed, done or Finish())])

    def defer(self, tenant: str, ticket_id: str, delay: float) -> None:
        self.defer_many(tenant, [ticket_id], delay)

    def defer_many(self, tenant: str, tickets: Sequence[str], delay: float = 0.0) -> None:
        """Hand leased tickets back, to be taken again after `delay` seconds (0: by anyone, at once)."""
        if not tickets:
            return
        self._defer(
            keys=[keys.processing(tenant), keys.ready(tenant), keys.owners(tenant)],
            args=[time.time() + delay, self.owner, *tickets],
        )
        for ticket_id in tickets:
            self._let_go(tenant, ticket_id)

    def record_failure(self, tenant: str, ticket_id: str) -> int:
        return int(self.redis.hincrby(keys.attempts(tenant), ticket_id, 1))

    def bury(self, tenant: str, ticket_id: str, raw: Sequence[str], error: str, attempts: int | None = None) -> None:
        """Move a ticket's events to the dead-letter list: kept, visible, and out of the way of new ones."""
        self.finish(tenant, ticket_id, len(raw), Finish(dead=[(text, error) for text in raw], attempts=attempts))

    def dead_letters(self, tenant: str) -> list[DeadLetter]:
        return [DeadLetter.from_raw(raw) for raw in self.redis.lrange(keys.dead_letters(tenant), 0, -1)]

    def replay(self, tenant: str, tickets: Sequence[str] = ()) -> int:
        """Put dead letters (all, or those of `tickets`) back in their tickets' inboxes, in the order they were
        buried, and mark the tickets ready; returns how many events went back (the caller wakes a drain).
        An entry whose event was unreadable stays where it is."""
        wanted = set(tickets)
        triples: list[str] = []
        for raw in self.redis.lrange(keys.dead_letters(tenant), 0, -1):
            letter = DeadLetter.from_raw(raw)
            if "kind" not in letter.event or (wanted and letter.ticket_id not in wanted):
                continue
            triples += [keys.as_text(raw), letter.ticket_id, json.dumps(letter.event, separators=(",", ":"))]
        if not triples:
            return 0
        prefix = keys.inbox(tenant, "")
        moved = self._replay(keys=[keys.dead_letters(tenant), keys.ready(tenant)], args=[time.time(), prefix, *triples])
        return int(moved)

    def _let_go(self, tenant: str, ticket_id: str) -> None:
        self.leases.let_go(Lease(tenant, ticket_id, ticket=True))

    def release_drainer(self, tenant: str, token: str) -> bool:
        """Give the token back; True when a due ticket nobody holds remains and the caller should carry on."""
        self.leases.let_go(Lease(tenant, token, ticket=False))
        more = self._release_drainer(
            keys=[keys.drainers(tenant), keys.ready(tenant), keys.processing(tenant)], args=[token, time.time()]
        )
        return bool(more)

    def hold_drainer(self, tenant: str, token: str) -> bool:
        """This process now works under `token` (renewed with its tickets, handed back if it stops); False when
        the token's slot expired while it waited and `max_drainers` others run: the caller does not drain."""
        now = time.time()
        until = now + DRAINER_LEASE_SECONDS
        if not self._hold_drainer(keys=[keys.drainers(tenant)], args=[now, self.max_drainers, token, until]):
            return False
        self.leases.hold(Lease(tenant, token, ticket=False), until)
        return True

    # --- sweeper -----------------------------------------------------------------------------------------

    def reclaim(self, tenant: str) -> int:
        return int(
            self._reclaim(keys=[keys.processing(tenant), keys.ready(tenant), keys.owners(tenant)], args=[time.time()])
        )

    def due_count(self, tenant: str) -> int:
        return int(self.redis.zcount(keys.ready(tenant), "-inf", time.time()))

    def backlog(self, tenant: str) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(keys.ready(tenant))
        pipe.zcard(keys.processing(tenant))
        pipe.llen(keys.dead_letters(tenant))
        ready, processing, dead = pipe.execute()
        return {"ready": int(ready), "processing": int(processing), "dead": int(dead)}
