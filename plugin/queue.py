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
from dataclasses import dataclass
from typing import Any

import redis

from escalator.plugin import keys
from escalator.rules.model import TicketEvent

DEDUPE_SECONDS = 7 * 24 * 3600
"""How long a delivery id is remembered: longer than any vendor's retry schedule (Freshdesk: ~1.5 h)."""
TICKET_LEASE_SECONDS = 120.0
"""A worker's hold on one ticket; long enough for a slow vendor round trip with retries."""
DRAINER_LEASE_SECONDS = 300.0
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

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 64)
for _, ticket in ipairs(due) do
  if not redis.call('ZSCORE', KEYS[2], ticket) then
    redis.call('ZREM', KEYS[1], ticket)
    redis.call('ZADD', KEYS[2], ARGV[2], ticket)
    return ticket
  end
end
return false
"""

# KEYS: processing, inbox, ready, state, outbox ; ARGV: ticket, consumed, state_json, now
_FINISH = """
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3]) end
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('LLEN', KEYS[2]) > 0 then redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[1]) end
return 1
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

    def claim(self, tenant: str) -> str | None:
        now = time.time()
        ticket = self._claim(keys=[keys.ready(tenant), keys.processing(tenant)], args=[now, now + TICKET_LEASE_SECONDS])
        return ticket.decode() if isinstance(ticket, bytes) else None

    def pending(self, tenant: str, ticket_id: str) -> list[TicketEvent]:
        return [TicketEvent.from_json(raw) for raw in self.redis.lrange(keys.inbox(tenant, ticket_id), 0, -1)]

    def finish(self, tenant: str, ticket_id: str, consumed: int, state_json: str = "") -> None:
        """Drop the applied events, save the ticket's state and clear its outbox in one step; requeue the ticket
        if more events arrived meanwhile."""
        self._finish(
            keys=[
                keys.processing(tenant),
                keys.inbox(tenant, ticket_id),
                keys.ready(tenant),
                keys.state(tenant, ticket_id),
                keys.outbox(tenant, ticket_id),
            ],
            args=[ticket_id, consumed, state_json, time.time()],
        )
        self.redis.hdel(keys.attempts(tenant), ticket_id)

    def defer(self, tenant: str, ticket_id: str, delay: float) -> None:
        self._defer(keys=[keys.processing(tenant), keys.ready(tenant)], args=[ticket_id, time.time() + delay])

    def record_failure(self, tenant: str, ticket_id: str) -> int:
        return int(self.redis.hincrby(keys.attempts(tenant), ticket_id, 1))

    def bury(self, tenant: str, ticket_id: str, consumed: int, error: str) -> None:
        """Move a ticket's events to the dead-letter list: kept, visible, and out of the way of new ones."""
        events = self.redis.lrange(keys.inbox(tenant, ticket_id), 0, consumed - 1)
        pipe = self.redis.pipeline()
        for raw in events:
            pipe.rpush(keys.dead_letters(tenant), _dead_letter(raw, error))
        pipe.execute()
        self.finish(tenant, ticket_id, consumed)

    def release_drainer(self, tenant: str, token: str) -> bool:
        """Give the token back; True when due work remains and the caller should try to carry on."""
        self.redis.zrem(keys.drainers(tenant), token)
        return bool(self.redis.zcount(keys.ready(tenant), "-inf", time.time()))

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


def _dead_letter(raw: Any, error: str) -> str:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return json.dumps({"error": error, "event": json.loads(text), "buried_at": time.time()})
