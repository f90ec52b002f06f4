"""The admin commands behind `escalator install`, `backfill` and `reconcile`, and what they share.

Vendor knowledge stays in the tenant's connector (`connectors/<vendor>/`); this package drives it with the
tenant's runtime: its client (auth, shared rate limit, retries), its policy, its Redis (checkpoints, locks,
the event queue).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

import redis
from redis.exceptions import LockError

from escalator.connectors.admin import TicketExport
from escalator.connectors.base import DeskAdmin
from escalator.plugin import keys
from escalator.plugin.exitcodes import EXIT_DESK, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from escalator.plugin.ratelimit import Budget, RedisRateLimiter
from escalator.plugin.runtime import Runtime

__all__ = ["EXIT_DESK", "EXIT_OK", "EXIT_PROBLEM", "EXIT_USAGE"]

log = logging.getLogger(__name__)

EXPORT_BUCKET = "exports"
EXPORT_MAX_WAIT = 120.0
"""How long a caller may wait for an export slot before giving up for now (reconcile) or waiting again."""


def export_budget(runtime: Runtime, tenant: str) -> Budget | None:
    """Calls on the vendor's export endpoint, per minute, shared by backfill and reconciliation, on top of the
    tenant's request budget (Zendesk allows 10 incremental exports a minute; Freshdesk's list has no own limit)."""
    per_minute = runtime.connector(tenant).export_policy.exports_per_minute
    return Budget(limit=per_minute, period=60.0, burst=per_minute) if per_minute else None


@dataclass
class ExportPacer:
    """Before each export call, wait for the tenant's export slot (a GCRA bucket in Redis, so a backfill and
    the workers' reconciliation share Zendesk's 10 a minute); `on_wait` hears about waits worth showing."""

    limiter: RedisRateLimiter | None
    sleep: Callable[[float], None] = time.sleep
    on_wait: Callable[[float], None] | None = None

    def __call__(self) -> None:
        if self.limiter is None:
            return
        while True:
            admission = self.limiter.acquire([EXPORT_BUCKET])
            if admission.wait > 1.0 and self.on_wait is not None:
                self.on_wait(admission.wait)
            if admission.admitted:
                if admission.wait > 0:
                    self.sleep(admission.wait)
                return
            self.sleep(admission.wait)


def export_pacer(
    runtime: Runtime, tenant: str, budget: Budget | None = None, on_wait: Callable[[float], None] | None = None
) -> ExportPacer:
    budget = budget or export_budget(runtime, tenant)
    if budget is None:
        return ExportPacer(None)
    limiter = RedisRateLimiter(runtime.redis, tenant, {EXPORT_BUCKET: budget}, max_wait=EXPORT_MAX_WAIT)
    return ExportPacer(limiter, on_wait=on_wait)


def ticket_export(runtime: Runtime, tenant: str, pace: Callable[[], None]) -> TicketExport:
    return runtime.connector(tenant).export(runtime.client(tenant), pace)


def desk_admin(runtime: Runtime, tenant: str) -> DeskAdmin:
    return runtime.connector(tenant).admin(runtime.client(tenant))


def state_key(tenant: str, command: str) -> str:
    """`esc:{<tenant>}:backfill` / `esc:{<tenant>}:reconcile`: a command's checkpoint hash."""
    return keys.checkpoint(tenant, command)


def say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


@contextmanager
def held_lock(
    client: redis.Redis, name: str, seconds: float, busy: Exception, what: str
) -> Iterator[Callable[[], object]]:
    """One run at a time per tenant (a backfill, a reconciliation pass, an export): the lock `name` is held for
    the block, which gets how to renew it; `busy` is raised when another run holds it. A lock that expired
    before the end is reported, not raised: the work it guarded is done."""
    lock = client.lock(name, timeout=seconds, blocking=False)
    if not lock.acquire():
        raise busy
    try:
        yield lambda: lock.extend(seconds, True)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("the %s expired before the end", what)
