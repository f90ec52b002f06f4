"""The durable event path between the webhook receiver and the workers, per tenant, in Redis.

A delivery is deduplicated and queued in one atomic script, so a 202 always means "durably queued" and a
repeat is never queued twice. Events wait in a per-ticket inbox; a ticket with events sits in the tenant's
`ready` set until a drain job claims it under a lease (one worker per ticket, so events apply in order).
RQ carries only the drain jobs, which work through many tickets each: queueing cost does not scale with
events, and a crashed worker's lease simply expires and the ticket is claimed again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from escalator.plugin import keys
from escalator.plugin.leases import DRAINER_LEASE_SECONDS, TICKET_LEASE_SECONDS, HeldLeases, Lease
from escalator.plugin.timers import ARM_LUA, CANCEL_LUA, TimerStore
from escalator.rules.model import TicketEvent

DEDUPE_SECONDS = 7 * 24 * 3600
"""How long a delivery id is remembered: longer than any vendor's retry schedule (Freshdesk: ~1.5 h)."""
JOURNAL_LENGTH = 200
"""Decisions kept per ticket (newest first): what fired, what was held back, why."""
MAX_ATTEMPTS = 10
"""Processing attempts per ticket before its events go to the dead-letter list (about 1.5 h of backoff)."""

# KEYS: dedupe, inbox, ready, drainers ; ARGV: ttl, event_json, ticket, now, max_drainers, token, lease_until
# Returns 0 for a repeat delivery, 1 when queued, 2 when queued and the caller holds a new drain token.
_INTAKE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[4])
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[5]) then return 1 end
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[6])
return 2
"""

# KEYS: ready, processing, drainers ; ARGV: now, lease_until, drain token ('' none), token lease_until,
# then the key prefixes of inbox, state and outbox (+ ticket id). One round trip: renew the drain slot, lease
# the first due ticket no one holds, and read everything a worker needs to decide on it.
_CLAIM = """
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[3], 'XX', ARGV[4], ARGV[3]) end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 64)
for _, ticket in ipairs(due) do
  if not redis.call('ZSCORE', KEYS[2], ticket) then
    redis.call('ZREM', KEYS[1], ticket)
    redis.call('ZADD', KEYS[2], ARGV[2], ticket)
    return {ticket, redis.call('LRANGE', ARGV[5] .. ticket, 0, -1),
            redis.call('GET', ARGV[6] .. ticket) or '', redis.call('GET', ARGV[7] .. ticket) or ''}
  end
end
return false
"""

# KEYS: 1 processing, 2 inbox, 3 ready, 4 state, 5 outbox, 6 dead, 7 attempts, 8 journal, 9 metrics,
#       10-12 the tenant's timers (pending, inflight, inflight_due)
# ARGV: 1 ticket, 2 consumed, 3 state json ('' keeps it), 4 now, 5 timer wake channel, 6 journal entry ('' none),
#       7 journal length, 8 dead letters n, 9 counter pairs n, 10 timer (due, key) pairs n, 11 timers to cancel n,
#       then the dead letters, the (name, increment) pairs, the (due, key) pairs and the keys to cancel.
# Everything a finished ticket changes, in one step: nothing is half-recorded after a crash.
_FINISH = (
    ARM_LUA
    + CANCEL_LUA
    + """
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3]) end
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[7], ARGV[1])
if ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[8], ARGV[6])
  redis.call('LTRIM', KEYS[8], 0, tonumber(ARGV[7]) - 1)
end
local at = 11
for i = 1, tonumber(ARGV[8]) do redis.call('RPUSH', KEYS[6], ARGV[at + i]) end
at = at + tonumber(ARGV[8])
for i = 1, tonumber(ARGV[9]) do
  redis.call('HINCRBY', KEYS[9], ARGV[at + 2 * i - 1], ARGV[at + 2 * i])
end
at = at + 2 * tonumber(ARGV[9])
local items = {}
for i = 1, 2 * tonumber(ARGV[10]) do items[i] = ARGV[at + i] end
at = at + 2 * tonumber(ARGV[10])
for i = 1, tonumber(ARGV[11]) do cancel_timer(KEYS[10], KEYS[11], KEYS[12], ARGV[at + i]) end
arm_timers(KEYS[10], ARGV[5], items)
if redis.call('LLEN', KEYS[2]) > 0 then redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[1]) end
return 1
"""
)

# KEYS: dead, ready ; ARGV: now, inbox key prefix, then (dead-letter entry, ticket id, event json) triples.
# An entry another replay already took (LREM finds nothing) is skipped, so a replay never queues twice.
_REPLAY = """
local moved = 0
for i = 3, #ARGV, 3 do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    redis.call('RPUSH', ARGV[2] .. ARGV[i + 1], ARGV[i + 2])
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i + 1])
    moved = moved + 1
  end
end
return moved
"""

# KEYS: processing, ready ; ARGV: ticket, not_before
_DEFER = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# KEYS: drainers ; ARGV: now, max, token, lease_until
_ACQUIRE_DRAINER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
return 1
"""

# KEYS: processing, ready ; ARGV: now -- leases of crashed workers go back to ready
_RECLAIM = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, ticket in ipairs(stale) do
  redis.call('ZREM', KEYS[1], ticket)
  redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ticket)
end
return #stale
"""


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


@dataclass
class Finish:
    """What a finished ticket changes (see `EventQueue.finish`)."""

    state_json: str = ""
    """The ticket's new state ('' keeps the old one)."""
    dead: Sequence[tuple[str, str]] = ()
    """(raw event, error) to dead-letter."""
    attempts: int | None = None
    journal: str = ""
    """A journal entry (JSON) for the decision, '' for none."""
    counters: Mapping[str, int] = field(default_factory=dict)
    arm: Sequence[tuple[str, float]] = ()
    """(timer key, due) to arm or move."""
    cancel: Sequence[str] = ()
    """Timer keys to cancel."""


@dataclass(frozen=True)
class Offer:
    accepted: bool
    """False for a delivery seen before (answered 200, nothing queued)."""
    drain_token: str | None = None


class EventQueue:
    def __init__(self, client: redis.Redis, *, max_drainers: int = 2) -> None:
        self.redis = client
        self.max_drainers = max_drainers
        self._intake = client.register_script(_INTAKE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)
        self._defer = client.register_script(_DEFER)
        self._acquire = client.register_script(_ACQUIRE_DRAINER)
        self._reclaim = client.register_script(_RECLAIM)
        self._replay = client.register_script(_REPLAY)
        self.leases = HeldLeases(client)
        """What this process holds: renewed while it works, handed back when it stops."""

    # --- receiver side -----------------------------------------------------------------------------------

    def offer(self, tenant: str, event: TicketEvent) -> Offer:
        """Queue the event unless this delivery was seen before, in one atomic step that also hands out a
        drain token when fewer than `max_drainers` drains run (then the caller enqueues the drain job)."""
        token, now = uuid.uuid4().hex, time.time()
        outcome = self._intake(
            keys=[
                keys.dedupe(tenant, event.delivery_id),
                keys.inbox(tenant, event.ticket_id),
                keys.ready(tenant),
                keys.drainers(tenant),
            ],
            args=[
                DEDUPE_SECONDS,
                event.to_json(),
                event.ticket_id,
                now,
                self.max_drainers,
                token,
                now + DRAINER_LEASE_SECONDS,
            ],
        )
        return Offer(accepted=bool(outcome), drain_token=token if outcome == 2 else None)

    def acquire_drainer(self, tenant: str) -> str | None:
        """A drain token if fewer than `max_drainers` run for the tenant; the caller enqueues the job."""
        token = uuid.uuid4().hex
        now = time.time()
        got = self._acquire(
            keys=[keys.drainers(tenant)], args=[now, self.max_drainers, token, now + DRAINER_LEASE_SECONDS]
        )
        return token if got else None

    # --- worker side -------------------------------------------------------------------------------------

    def claim(self, tenant: str, token: str = "") -> Claimed | None:
        """Lease the first due ticket nobody holds, with its inbox, state and saved plan (one round trip); the
        drain `token`, if given, is renewed on the way."""
        now = time.time()
        until = now + TICKET_LEASE_SECONDS
        found = self._claim(
            keys=[keys.ready(tenant), keys.processing(tenant), keys.drainers(tenant)],
            args=[
                now,
                until,
                token,
                now + DRAINER_LEASE_SECONDS,
                keys.inbox(tenant, ""),
                keys.state(tenant, ""),
                keys.outbox(tenant, ""),
            ],
        )
        if not found:
            return None
        ticket_id = keys.as_text(found[0])
        self.leases.hold(Lease(tenant, ticket_id, ticket=True), until)
        return Claimed(
            ticket_id, [keys.as_text(raw) for raw in found[1]], keys.as_text(found[2]), keys.as_text(found[3])
        )

    def pending(self, tenant: str, ticket_id: str) -> list[TicketEvent]:
        return [TicketEvent.from_json(raw) for raw in self.redis.lrange(keys.inbox(tenant, ticket_id), 0, -1)]

    def finish(self, tenant: str, ticket_id: str, consumed: int, done: Finish | None = None) -> None:
        """Drop the applied events, save the ticket's state, clear its outbox and failure count, move poison
        events to the dead letters, journal the decision, count it and re-arm the ticket's timers, in one
        step; requeue the ticket if more events arrived meanwhile."""
        done = done or Finish()
        timers = TimerStore(self.redis, keys.timers(tenant))
        dead = [_dead_letter(raw, error, done.attempts) for raw, error in done.dead]
        counters = [item for name, value in done.counters.items() if value for item in (name, value)]
        arm = [item for key, due in done.arm for item in (due, key)]
        self._finish(
            keys=[
                keys.processing(tenant),
                keys.inbox(tenant, ticket_id),
                keys.ready(tenant),
                keys.state(tenant, ticket_id),
                keys.outbox(tenant, ticket_id),
                keys.dead_letters(tenant),
                keys.attempts(tenant),
                keys.journal(tenant, ticket_id),
                keys.metrics(tenant),
                *timers.keys(),
            ],
            args=[
                ticket_id,
                consumed,
                done.state_json,
                time.time(),
                timers.wake_channel,
                done.journal,
                JOURNAL_LENGTH,
                len(dead),
                len(counters) // 2,
                len(arm) // 2,
                len(done.cancel),
                *dead,
                *counters,
                *arm,
                *done.cancel,
            ],
        )
        self._let_go(tenant, ticket_id)

    def defer(self, tenant: str, ticket_id: str, delay: float) -> None:
        self._defer(keys=[keys.processing(tenant), keys.ready(tenant)], args=[ticket_id, time.time() + delay])
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
        """Give the token back; True when due work remains and the caller should try to carry on."""
        self.leases.let_go(Lease(tenant, token, ticket=False))
        self.redis.zrem(keys.drainers(tenant), token)
        return bool(self.redis.zcount(keys.ready(tenant), "-inf", time.time()))

    def hold_drainer(self, tenant: str, token: str) -> None:
        """This process now works under `token` (renewed with its tickets, handed back if it stops)."""
        self.leases.hold(Lease(tenant, token, ticket=False), time.time() + DRAINER_LEASE_SECONDS)

    def renew_drainer(self, tenant: str, token: str) -> None:
        self.redis.zadd(keys.drainers(tenant), {token: time.time() + DRAINER_LEASE_SECONDS}, xx=True)

    # --- sweeper -----------------------------------------------------------------------------------------

    def reclaim(self, tenant: str) -> int:
        return int(self._reclaim(keys=[keys.processing(tenant), keys.ready(tenant)], args=[time.time()]))

    def due_count(self, tenant: str) -> int:
        return int(self.redis.zcount(keys.ready(tenant), "-inf", time.time()))

    def backlog(self, tenant: str) -> dict[str, int]:
        return {
            "ready": int(self.redis.zcard(keys.ready(tenant))),
            "processing": int(self.redis.zcard(keys.processing(tenant))),
            "dead": int(self.redis.llen(keys.dead_letters(tenant))),
        }


def _dead_letter(raw: Any, error: str, attempts: int | None = None) -> str:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        event: Any = json.loads(text)
    except ValueError:
        event = {"unreadable": text[:2000]}  # kept as text: an admin can still see what it was
    return json.dumps({"error": error[:2000], "event": event, "buried_at": time.time(), "attempts": attempts})
