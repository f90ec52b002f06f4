"""The leases one process holds: tickets it works on and the drain slots it works under.

A lease is a score (its expiry) in a sorted set: `processing` for tickets, `drainers` for drain tokens. This
process renews what it holds while it works (so a slow ticket is never claimed twice), hands everything back
when it must stop, and, when a drain loses Redis mid-ticket, keeps the leases as orphans to hand back once
Redis answers. Handing back checks the score is still the one this process set: if the lease expired and
another worker claimed the ticket meanwhile, that worker's lease is left alone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis

from escalator.plugin import keys

TICKET_LEASE_SECONDS = 30.0
"""A worker's hold on one ticket, renewed every LEASE_RENEW_SECONDS while it works: short, so the work of a
worker that died (SIGKILL, a lost host) is picked up by another within half a minute."""
DRAINER_LEASE_SECONDS = 30.0
"""A drain job's hold on one of the tenant's drain slots, renewed like a ticket lease."""
LEASE_RENEW_SECONDS = 5.0

# KEYS: leases (processing or drainers), ready, owners ; ARGV: member, the score we set ('' for a drain token:
# tokens are unique, so whoever holds one is us), now, ticket (1: requeue it and drop its owner; 0: a token)
_HAND_BACK = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or (ARGV[2] ~= '' and tonumber(score) ~= tonumber(ARGV[2])) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
end
return 1
"""


@dataclass(frozen=True)
class Lease:
    tenant: str
    member: str
    """A ticket id or a drain token."""
    ticket: bool

    def key(self) -> str:
        return keys.processing(self.tenant) if self.ticket else keys.drainers(self.tenant)

    @property
    def seconds(self) -> float:
        return TICKET_LEASE_SECONDS if self.ticket else DRAINER_LEASE_SECONDS


class HeldLeases:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._hand_back = client.register_script(_HAND_BACK)
        self._lock = threading.Lock()
        self._held: dict[Lease, float] = {}
        """Lease -> the expiry this process last set."""
        self._orphans: dict[Lease, float] = {}
        """Leases a drain gave up while Redis was unreachable."""

    def hold(self, lease: Lease, until: float) -> None:
        with self._lock:
            self._held[lease] = until

    def let_go(self, lease: Lease) -> None:
        with self._lock:
            self._held.pop(lease, None)

    def renew(self) -> None:
        """Extend every lease held (one round trip): a live worker never loses its ticket."""
        with self._lock:
            held = list(self._held)
        if not held:
            return
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for lease in held:
            pipe.zadd(lease.key(), {lease.member: now + lease.seconds}, xx=True)
        pipe.execute()
        with self._lock:
            for lease in held:
                if lease in self._held:
                    self._held[lease] = now + lease.seconds

    def forget(self, tenant: str) -> None:
        """A drain lost Redis and gave up: stop renewing the tenant's leases (without touching Redis) and keep
        them as orphans for `release_orphans`; if that never runs, they simply expire."""
        with self._lock:
            for lease in [lease for lease in self._held if lease.tenant == tenant]:
                self._orphans[lease] = self._held.pop(lease)

    def give_back(self, tenant: str) -> int:
        """A drain ended on an unexpected error: hand the tenant's leases back now, so its tickets are ready
        again at once instead of renewed for as long as this process lives; while Redis does not answer they
        wait as orphans."""
        self.forget(tenant)
        return self.release_orphans()

    def release_orphans(self) -> int:
        """Hand back what drains gave up during a Redis outage: their tickets are ready again at once."""
        with self._lock:
            orphans, self._orphans = self._orphans, {}
        try:
            return self._release(orphans)
        except redis.RedisError:
            with self._lock:
                self._orphans.update(orphans)  # still unreachable: next time
            raise

    def release_all(self) -> int:
        """Hand back every lease held (a worker that must stop now); returns how many tickets went back."""
        with self._lock:
            held, self._held = self._held, {}
        return self._release(held)

    def _release(self, leases: dict[Lease, float]) -> int:
        now, tickets = time.time(), 0
        for lease, until in leases.items():
            mine = repr(until) if lease.ticket else ""  # redis-py sends floats as repr(): the same double
            released = self._hand_back(
                keys=[lease.key(), keys.ready(lease.tenant), keys.owners(lease.tenant)],
                args=[lease.member, mine, now, int(lease.ticket)],
            )
            tickets += int(released) if lease.ticket else 0
        return tickets
