"""A tenant's outbound budget, shared by every worker through Redis: GCRA, one Lua call per decision.

Each bucket (`requests`, `ticket_updates`) is one key `esc:<tenant>:rate:<bucket>` holding a single number,
the GCRA "theoretical arrival time" (TAT): the bucket holds `(now + burst * interval - TAT) / interval`
tokens, at most `burst`. A call that needs two buckets is admitted by one script that checks both and
writes both, or writes neither. Admission is a reservation: when the buckets are short, the script books the
call's slot at the earliest moment every bucket allows it and answers how long to wait, so waiting workers
are served in order, at the budget's pace, with no polling; a wait longer than `max_wait` reserves nothing and
the ticket goes back to the queue for that long (RateLimited), so a change is late, never lost.

Time is Redis's own clock (`TIME`), so workers on different hosts agree; tests may inject a clock.

Why GCRA: one float per bucket, O(1) work, exact token-bucket semantics (a burst, then a steady rate), and
"the vendor says less is left" or "blocked until" are single `max()` updates of that float.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import redis

from escalator.connectors.http import MAX_INLINE_WAIT
from escalator.connectors.ratelimit import REQUESTS, TICKET_UPDATES, Admission, Observation
from escalator.plugin import keys
from escalator.plugin.prometheus import VENDOR_RATE_LIMITED

HEADROOM = 0.9
"""Share of the configured budget we spend: the rest absorbs network jitter (a request that leaves on time
but arrives late can bunch with the next), the odd call another integration makes, and clock drift."""
MAX_WAIT = MAX_INLINE_WAIT
"""A slot this close is waited for in the worker; a later one defers the ticket (the same bound as 429s)."""
KEY_SPARE_SECONDS = 60
"""A bucket key outlives the moment it is full again by this much, then vanishes (a full bucket is no key)."""

CONFIG_BUCKETS = {"requests_per_minute": REQUESTS, "ticket_updates_per_minute": TICKET_UPDATES}
"""DESIGN §2 `rate_limit` settings -> the buckets connectors name."""

# Shared prologue: `now` (ARGV[1], an injected time, or '' for Redis's TIME) and `store`, which writes a TAT
# with an expiry ARGV[2] seconds after the bucket is full again.
_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function store(key, tat)
  redis.call('SET', key, string.format('%.6f', tat), 'PX', math.ceil((tat - now + tonumber(ARGV[2])) * 1000))
end
"""

# KEYS: the call's buckets ; ARGV: now, spare, max_wait, then interval, burst per bucket.
# Returns {admitted (0/1), wait as text}.
_ACQUIRE = (
    _NOW
    + """
local max_wait = tonumber(ARGV[3])
local tats, start = {}, now
for i, key in ipairs(KEYS) do
  local interval, burst = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local tat = math.max(tonumber(redis.call('GET', key)) or now, now)
  tats[i] = tat
  -- the earliest moment this bucket holds one token
  start = math.max(start, tat + interval - burst * interval)
end
local wait = start - now
if wait > max_wait then return {0, string.format('%.6f', wait)} end
for i, key in ipairs(KEYS) do
  store(key, math.max(tats[i], start) + tonumber(ARGV[2 + 2 * i]))
end
return {1, string.format('%.6f', wait)}
"""
)

# KEYS: buckets ; ARGV: now, spare, then interval, burst, delay, tokens per bucket: after this call the bucket
# holds at most `tokens` tokens `delay` seconds from now (and none before then when delay > 0).
_LOWER = (
    _NOW
    + """
for i, key in ipairs(KEYS) do
  local interval, burst = tonumber(ARGV[4 * i - 1]), tonumber(ARGV[4 * i])
  local delay, tokens = tonumber(ARGV[4 * i + 1]), tonumber(ARGV[4 * i + 2])
  local floor = now + delay + (burst - tokens) * interval
  local tat = tonumber(redis.call('GET', key)) or now
  if floor > tat then store(key, floor) end
end
return 1
"""
)


@dataclass(frozen=True)
class Budget:
    """`limit` calls per `period` seconds, in bursts of up to `burst` calls (default: the whole `limit`)."""

    limit: float
    period: float = 60.0
    burst: float | None = None

    def __post_init__(self) -> None:
        if not (self.limit > 0 and self.period > 0 and (self.burst is None or self.burst >= 1)):
            raise ValueError(f"a budget needs limit > 0, period > 0 and burst >= 1: {self}")

    @property
    def interval(self) -> float:
        """Seconds per call at the steady rate."""
        return self.period / self.limit

    @property
    def capacity(self) -> float:
        return max(1.0, self.limit if self.burst is None else self.burst)


def budgets_from_config(
    rate_limit: Mapping[str, int], *, headroom: float = HEADROOM, period: float = 60.0
) -> dict[str, Budget]:
    """The tenant's `rate_limit` (per minute) as buckets, with headroom: 100/min -> 90/min, bursts of 90.

    `period` shrinks the minute for tests and benchmarks that cannot wait for real minutes."""
    budgets: dict[str, Budget] = {}
    for setting, bucket in CONFIG_BUCKETS.items():
        if setting in rate_limit:
            spend = max(1.0, float(rate_limit[setting]) * headroom)
            budgets[bucket] = Budget(limit=spend, period=period, burst=spend)
    return budgets


class RedisRateLimiter:
    """One tenant's buckets in Redis; any number of instances, threads and hosts share them.

    Buckets a call names but the tenant has no budget for are not limited."""

    def __init__(
        self,
        client: redis.Redis,
        tenant: str,
        budgets: Mapping[str, Budget],
        *,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.redis = client
        self.tenant = tenant
        self.budgets = dict(budgets)
        self.max_wait = max_wait
        self.clock = clock
        self._acquire = client.register_script(_ACQUIRE)
        self._lower = client.register_script(_LOWER)

    def key(self, bucket: str) -> str:
        return keys.tenant_key(self.tenant, "rate", bucket)

    def acquire(self, buckets: Sequence[str]) -> Admission:
        limited = [bucket for bucket in dict.fromkeys(buckets) if bucket in self.budgets]
        if not limited:
            return Admission(True, 0.0)
        args: list[str | float] = [self._now(), KEY_SPARE_SECONDS, self.max_wait]
        for bucket in limited:
            args += [self.budgets[bucket].interval, self.budgets[bucket].capacity]
        admitted, wait = self._acquire(keys=[self.key(bucket) for bucket in limited], args=args)
        return Admission(bool(int(admitted)), max(0.0, float(wait)))

    def observe(self, observations: Sequence[Observation]) -> None:
        """Never believe more is left than the vendor says; an empty budget with a known reset waits for it.

        Exact for a vendor that refills steadily; for one with fixed windows (Zendesk's per minute) the
        remaining count reaching 0 blocks us until the window resets, and a 429 is the last line of defence."""
        lowered: list[tuple[str, float, float]] = []
        for item in observations:
            budget = self.budgets.get(item.bucket)
            if budget is None or not math.isfinite(item.remaining) or item.remaining >= budget.capacity:
                continue  # nothing to learn: we never believe in more than our own capacity
            if item.remaining < 1 and item.reset is not None and math.isfinite(item.reset):
                lowered.append((item.bucket, max(0.0, item.reset), 1.0))
            else:
                lowered.append((item.bucket, 0.0, max(0.0, math.floor(item.remaining))))
        self._apply(lowered)

    def block(self, buckets: Sequence[str], seconds: float) -> None:
        """After a 429: the first call goes when Retry-After has passed, the rest at the budget's pace. The
        429 is counted for `/metrics` (escalator_vendor_rate_limited_total): a budget set too high shows."""
        self.redis.hincrby(keys.metrics(self.tenant), VENDOR_RATE_LIMITED, 1)
        if math.isfinite(seconds):
            self._apply([(bucket, max(0.0, seconds), 1.0) for bucket in buckets if bucket in self.budgets])

    def available(self, bucket: str) -> float:
        """Tokens the bucket holds now (for tests, metrics and the curious admin)."""
        budget = self.budgets[bucket]
        raw = self.redis.get(self.key(bucket))
        now = self.clock() if self.clock is not None else _redis_now(self.redis)
        tat = max(float(raw), now) if raw is not None else now
        return min(budget.capacity, (now + budget.capacity * budget.interval - tat) / budget.interval)

    def _apply(self, lowered: Sequence[tuple[str, float, float]]) -> None:
        if not lowered:
            return
        args: list[str | float] = [self._now(), KEY_SPARE_SECONDS]
        for bucket, delay, tokens in lowered:
            args += [self.budgets[bucket].interval, self.budgets[bucket].capacity, delay, tokens]
        self._lower(keys=[self.key(bucket) for bucket, _, _ in lowered], args=args)

    def _now(self) -> str:
        """The script's ARGV[1]: the injected clock's time, or '' for Redis's own."""
        return "" if self.clock is None else f"{self.clock():.6f}"


def _redis_now(client: redis.Redis) -> float:
    seconds, microseconds = client.time()
    return float(seconds) + float(microseconds) / 1_000_000


def tenant_limiter(client: redis.Redis, tenant: str, rate_limit: Mapping[str, int]) -> RedisRateLimiter:
    """The limiter `Runtime.client` hands to a tenant's connector."""
    return RedisRateLimiter(client, tenant, budgets_from_config(rate_limit))
