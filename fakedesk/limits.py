"""Token buckets: the vendors' rate limits as the fakes enforce them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence


class TokenBucket:
    """`limit` calls per `period` seconds, bursts of up to `limit`: the budget a rate-limited fake enforces."""

    def __init__(self, limit: int, period: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.period = period
        self.clock = clock
        self.tokens = float(limit)
        self._at = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.limit), self.tokens + (now - self._at) * self.limit / self.period)
        self._at = now

    def wait(self) -> float:
        """Seconds until one call fits (0 when it fits now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) * self.period / self.limit

    def take(self, count: float = 1.0) -> None:
        self._refill()
        self.tokens -= count

    def remaining(self) -> int:
        self._refill()
        return max(0, math.floor(self.tokens))

    def resets(self) -> int:
        """Seconds until the bucket is full again: the token bucket's "window reset"."""
        self._refill()
        return math.ceil((self.limit - self.tokens) * self.period / self.limit)


def admit(buckets: Sequence[TokenBucket]) -> float:
    """Take one token from every bucket a call draws on and return 0, or, when any is empty, take none and
    return the seconds until the call would fit (the caller answers 429 with its own Retry-After form)."""
    wait = max((bucket.wait() for bucket in buckets), default=0.0)
    if wait <= 0:
        for bucket in buckets:
            bucket.take()
    return wait
