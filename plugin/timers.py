"""Durable, precise timers: SLA deadlines and elapsed-time triggers kept in Redis.

Layout (one store per tenant, in the tenant's namespace ``esc:{acme}``, so its scripts touch one cluster
slot):

* ``<namespace>:timers:pending``     sorted set, member = timer key, score = due (epoch seconds, float).
  The key encodes everything a handler needs (``"acme:12345:sla:first_response"``), so an armed
  timer costs one sorted-set member and nothing else.
* ``<namespace>:timers:inflight``    sorted set, member = timer key, score = lease expiry of a claimed timer.
* ``<namespace>:timers:inflight_due`` hash, timer key -> original due, only while a timer is in flight.
  Reclaiming an expired lease restores that due (so a re-fire still reports the real deadline)
  and ack uses it to tell a stale ack from a newer firing of the same key.
* ``<namespace>:timers:wake``        pub/sub channel; ``arm`` publishes when it creates a new earliest deadline.

Every state change is a single Lua script, so exactly one claimer gets a due timer.  Delivery is
at-least-once: a handler that crashes or raises leaves its lease to expire, and the timer fires again.
One logical timer per key: re-arming a key while it is in flight replaces the older firing.

Waking: a loop waits on its own pub/sub connection with a timeout computed from the next deadline.
A BLPOP with a float timeout was measured on Redis 7.0 to overshoot by up to ~100 ms (blocking
timeouts are only checked on the 10 Hz server cron), and a wake list delivers each push to only one
of several sleepers; a pub/sub socket wait overshoots by < 1 ms and reaches every loop.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import PubSub

from escalator.plugin.connection import UNAVAILABLE, close_quietly, confirmed_subscription
from escalator.plugin.logs import Outage, throttled

log = logging.getLogger(__name__)

ARM_LUA = """
local function arm_timers(pending, channel, items)
  -- items: due, key, due, key, ...  ZADD adds or moves; publish only when one of them is now the earliest
  -- deadline, so sleepers are not woken by every far-future arm.
  if #items == 0 then return 0 end
  local earliest = nil
  for i = 1, #items, 2 do
    local due = tonumber(items[i])
    if earliest == nil or due < earliest then earliest = due end
  end
  for i = 1, #items, 1000 do
    redis.call('ZADD', pending, unpack(items, i, math.min(i + 999, #items)))
  end
  local first = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
  if first[2] ~= nil and tonumber(first[2]) >= earliest then
    redis.call('PUBLISH', channel, first[2])
    return 1
  end
  return 0
end
"""
"""A Lua function other scripts embed (the worker's finish arms a ticket's timers in the same script)."""

CANCEL_LUA = """
local function cancel_timer(pending, inflight, inflight_due, key)
  local n = redis.call('ZREM', pending, key) + redis.call('ZREM', inflight, key)
  redis.call('HDEL', inflight_due, key)
  return n
end
"""

# KEYS = pending ; ARGV = wake channel, then (due, key) pairs.
_ARM = (
    ARM_LUA
    + """
local items = {}
for i = 2, #ARGV do items[#items + 1] = ARGV[i] end
return arm_timers(KEYS[1], ARGV[1], items)
"""
)

# KEYS = pending, inflight, inflight_due; ARGV = now, limit, lease_until.
# The due ones are ranks 0..n-1 of the pending set, so ZREMRANGEBYRANK removes exactly them.
_CLAIM = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES',
                        'LIMIT', 0, tonumber(ARGV[2]))
local n = #items / 2
if n == 0 then return items end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
local leases, dues = {}, {}
for i = 1, #items, 2 do
  leases[#leases + 1] = ARGV[3]
  leases[#leases + 1] = items[i]
  dues[#dues + 1] = items[i]
  dues[#dues + 1] = items[i + 1]
end
redis.call('ZADD', KEYS[2], unpack(leases))
redis.call('HSET', KEYS[3], unpack(dues))
return items
"""

# KEYS = inflight, inflight_due; ARGV = (key, due) pairs.  Only the firing that was claimed is
# acked: if the key was re-armed and claimed again with another due, that newer lease stays.
_ACK = """
local removed = 0
for i = 1, #ARGV, 2 do
  local due = redis.call('HGET', KEYS[2], ARGV[i])
  if due and tonumber(due) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
    removed = removed + 1
  end
end
return removed
"""

# KEYS = pending, inflight, inflight_due; ARGV = now, limit, wake channel.
# NX: a key re-armed while in flight keeps its newer due.
_RECLAIM = """
local items = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #items == 0 then return 0 end
for _, key in ipairs(items) do
  local due = redis.call('HGET', KEYS[3], key) or ARGV[1]
  redis.call('ZADD', KEYS[1], 'NX', due, key)
  redis.call('HDEL', KEYS[3], key)
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, #items - 1)
redis.call('PUBLISH', ARGV[3], ARGV[1])
return #items
"""

# KEYS = pending, inflight, inflight_due; ARGV = key.
_CANCEL = CANCEL_LUA + "return cancel_timer(KEYS[1], KEYS[2], KEYS[3], ARGV[1])\n"

_ARM_CHUNK = 10_000  # pairs per script call: ZADD goes in slices of 500 pairs, a call stays a few ms
_RECLAIM_BATCH = 1000
_STOP_SLICE = 0.25  # seconds; longest a sleeping loop goes without checking its stop event


def _text(value: bytes | str) -> str:
    # Works with clients created with or without decode_responses.
    return value.decode() if isinstance(value, bytes) else value


def _check_due(due: float) -> float:
    due = float(due)
    if not math.isfinite(due):
        raise ValueError(f"timer due must be a finite epoch time, got {due!r}")
    return due


@dataclass(frozen=True)
class FiredTimer:
    key: str
    due: float  # epoch seconds, the original deadline (also after a lease expired and it fired again)


class TimerStore:
    """Pending timers in one sorted set; claims lease them into an in-flight set until acked."""

    def __init__(self, redis: redis.Redis, namespace: str = "esc", *, listener: redis.Redis | None = None) -> None:
        """`listener`: the client whose connections wait on the wake channel (one with no read timeout: the
        wait has its own); the command client by default."""
        self.redis = redis
        self.listener = listener if listener is not None else redis
        self.pending_key = f"{namespace}:timers:pending"
        self.inflight_key = f"{namespace}:timers:inflight"
        self.inflight_due_key = f"{namespace}:timers:inflight_due"
        self.wake_channel = f"{namespace}:timers:wake"
        self._arm = redis.register_script(_ARM)
        self._claim = redis.register_script(_CLAIM)
        self._ack = redis.register_script(_ACK)
        self._reclaim = redis.register_script(_RECLAIM)
        self._cancel = redis.register_script(_CANCEL)

    def arm(self, key: str, due: float) -> None:
        """Add or reschedule ``key``; wakes sleeping loops if it became the earliest deadline."""
        self._arm(keys=[self.pending_key], args=[self.wake_channel, _check_due(due), key])

    def arm_many(self, items: Iterable[tuple[str, float]]) -> None:
        """Arm many timers, 10,000 per script call (each chunk atomic, the batch as a whole not). Not pipelined:
        Redis Cluster refuses scripts inside a pipeline."""
        args: list[Any] = [self.wake_channel]
        for key, due in items:
            args += [_check_due(due), key]
            if len(args) > 2 * _ARM_CHUNK:
                self._arm(keys=[self.pending_key], args=args)
                args = [self.wake_channel]
        if len(args) > 1:
            self._arm(keys=[self.pending_key], args=args)

    def cancel(self, key: str) -> bool:
        """Remove a pending or in-flight timer; True if there was one."""
        return int(self._cancel(keys=self.keys(), args=[key])) > 0

    def due_of(self, key: str) -> float | None:
        """The pending due of ``key``; None if not armed (never armed, cancelled, or fired)."""
        score = self.redis.zscore(self.pending_key, key)
        return None if score is None else float(score)

    def next_due(self) -> float | None:
        """The earliest pending due."""
        first = self.redis.zrange(self.pending_key, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def next_deadline(self) -> float | None:
        """When a loop must look next: the earliest pending due or in-flight lease expiry."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(self.pending_key, 0, 0, withscores=True)
            pipe.zrange(self.inflight_key, 0, 0, withscores=True)
            heads = pipe.execute()
        scores = [float(head[0][1]) for head in heads if head]
        return min(scores) if scores else None

    def claim_due(self, now: float, limit: int = 500, lease_seconds: float = 30.0) -> list[FiredTimer]:
        """Atomically move up to ``limit`` timers with due <= now to in-flight, leased to now+lease."""
        now = _check_due(now)
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        if limit <= 0:
            return []
        flat = self._claim(keys=self.keys(), args=[now, limit, now + lease_seconds])
        return [FiredTimer(_text(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]

    def ack(self, fired: Sequence[FiredTimer]) -> None:
        """Forget fired timers once the handler has durably handed them on."""
        if not fired:
            return
        args: list[Any] = []
        for timer in fired:
            args += [timer.key, timer.due]
        self._ack(keys=[self.inflight_key, self.inflight_due_key], args=args)

    def reclaim_expired(self, now: float) -> int:
        """Return timers whose lease expired (crashed or failed handler) to pending.

        They go back with their original due rather than ``now``: the due is still <= now so they are
        claimable at once, and the handler sees the real deadline on the second firing too.
        """
        now = _check_due(now)
        total = 0
        while True:
            n = int(self._reclaim(keys=self.keys(), args=[now, _RECLAIM_BATCH, self.wake_channel]))
            total += n
            if n < _RECLAIM_BATCH:
                return total

    def count(self) -> int:
        """Armed (pending) timers; in-flight ones are not counted."""
        return int(self.redis.zcard(self.pending_key))

    def inflight_count(self) -> int:
        return int(self.redis.zcard(self.inflight_key))

    def subscribe_wake(self) -> PubSub:
        """A pub/sub connection on the wake channel, confirmed subscribed so no later arm is missed."""
        return confirmed_subscription(self.listener, self.wake_channel)

    def keys(self) -> list[str]:
        """pending, inflight, inflight_due: the KEYS of every script that touches a timer."""
        return [self.pending_key, self.inflight_key, self.inflight_due_key]


class TimerLoop:
    """Sleeps until the earliest deadline of its stores (woken early when an earlier timer is armed, from any
    process) and hands due timers to `on_fire`.

    One loop serves many stores (one per tenant, so each tenant's timers share its hash slot on a cluster):
    `stores` is a store or a callable returning the current list (tenants can be added by a reload)."""

    def __init__(
        self,
        stores: TimerStore | Callable[[], Sequence[TimerStore]],
        on_fire: Callable[[list[FiredTimer]], None],
        *,
        max_sleep: float = 1.0,
        clock: Callable[[], float] = time.time,
        batch_size: int = 500,
        lease_seconds: float = 30.0,
        outage: Outage | None = None,
    ) -> None:
        """`outage`: where a Redis outage is reported (one line when it starts, one when it ends)."""
        self.stores: Callable[[], Sequence[TimerStore]] = (
            (lambda: [stores]) if isinstance(stores, TimerStore) else stores
        )
        self.outage = outage
        self.on_fire = on_fire
        # Capping every sleep bounds the cost of a lost wake (e.g. during a reconnect) and of a
        # wall-clock step: waits run on the monotonic clock, deadlines are wall-clock.
        self.max_sleep = max_sleep
        self.clock = clock
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set (noticed within a quarter second)."""
        pubsub: PubSub | None = None
        backoff = 0.05
        try:
            while not stop.is_set():
                try:
                    if pubsub is None:
                        # Subscribe before looking at deadlines so an arm in between still wakes us.
                        pubsub = subscribe_wake(self.stores())
                    if self.run_once() >= self.batch_size:
                        continue  # backlog: claim the next batch without sleeping
                    if self.outage is not None:
                        self.outage.up()
                    self._sleep(pubsub, stop)
                    backoff = 0.05
                except Exception as error:
                    # Never let the loop die: that would silently stop every SLA.  Redis restarts land here.
                    if isinstance(error, UNAVAILABLE) and self.outage is not None:
                        self.outage.down(error)
                    else:
                        throttled(log, logging.WARNING, "timer loop", "timer loop error: %s", error, exc_info=error)
                    if pubsub is not None:
                        close_quietly(pubsub)
                        pubsub = None
                    stop.wait(backoff + random.uniform(0, backoff))
                    backoff = min(backoff * 2, self.max_sleep)
        finally:
            if pubsub is not None:
                close_quietly(pubsub)

    def run_once(self, now: float | None = None) -> int:
        """Reclaim expired leases, claim one batch of due timers, fire and ack them.

        Returns how many timers were handed to ``on_fire``.  If ``on_fire`` raises, the error is logged
        and the timers stay leased, so they fire again after ``lease_seconds`` (at-least-once).
        """
        # The claim uses the time read now, never a computed wake-up time, so a wait that returned a
        # little early (or a clock that stepped back) just finds nothing due yet.
        now = self.clock() if now is None else now
        handed = 0
        for store in self.stores():
            store.reclaim_expired(now)
            fired = store.claim_due(now, self.batch_size, self.lease_seconds)
            if not fired:
                continue
            handed = max(handed, len(fired))
            try:
                self.on_fire(fired)
            except Exception:
                log.exception(
                    "on_fire failed for %d timers (first %s); not acked, they fire again after the %.0fs lease",
                    len(fired),
                    fired[0].key,
                    self.lease_seconds,
                )
                continue
            store.ack(fired)
        return handed

    def _sleep(self, pubsub: PubSub, stop: threading.Event) -> None:
        deadlines = [due for due in (store.next_deadline() for store in self.stores()) if due is not None]
        deadline = min(deadlines, default=None)
        timeout = self.max_sleep
        if deadline is not None:
            timeout = min(timeout, deadline - self.clock())
        end = time.monotonic() + timeout
        # Wait in slices so `stop` is noticed within _STOP_SLICE even with a long max_sleep.
        while not stop.is_set():
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            # Returns on a wake message or after the timeout (a socket wait: sub-millisecond precise).
            if pubsub.get_message(ignore_subscribe_messages=True, timeout=min(remaining, _STOP_SLICE)):
                # Several arms may have landed at once; one look at the deadlines covers them all.
                while pubsub.get_message(ignore_subscribe_messages=True, timeout=0.0) is not None:
                    pass
                return


def subscribe_wake(stores: Sequence[TimerStore]) -> PubSub:
    """One pub/sub connection on every store's wake channel, confirmed subscribed so no later arm is missed."""
    if not stores:
        raise ValueError("a timer loop needs at least one store")
    return confirmed_subscription(stores[0].listener, *(store.wake_channel for store in stores))
