"""RQ jobs. A drain job works through a tenant's ready tickets until none is due, then hands back its token.

One ticket is one straight pass: claim (the lease, the inbox, the state and any saved plan in one round
trip), decide on one snapshot of the tenant (plugin.processing), write back, finish (state, journal,
counters, timers and dead letters in one round trip). An event that matches nothing costs those two round
trips and no vendor call.

Nothing a drain meets may kill it or lose an event: a failure of one ticket is retried or dead-lettered; a
stopping worker hands its ticket back; a Redis outage ends the drain quietly (its leases are handed back
once Redis answers, or expire).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import redis

from escalator.connectors.errors import Interrupted, PermanentError, RateLimited, TransientError
from escalator.plugin import outbox
from escalator.plugin.connection import UNAVAILABLE
from escalator.plugin.leases import LEASE_RENEW_SECONDS
from escalator.plugin.logs import throttled
from escalator.plugin.processing import Outcome, process_ticket
from escalator.plugin.queue import MAX_ATTEMPTS, Claimed
from escalator.plugin.recording import finish_for
from escalator.plugin.runtime import Runtime, current
from escalator.plugin.tenancy import TenantContext
from escalator.rules.state import TicketState

log = logging.getLogger(__name__)

DRAIN_BUDGET_SECONDS = 300.0
"""A drain job hands over to a fresh one after this long, well inside the RQ job timeout."""
CONTEXT_SECONDS = 5.0
"""How long a drain decides on one snapshot of the tenant before looking for a changed rules file."""
REFUSED_ATTEMPTS = 3
"""Attempts for a write the help desk refuses as such (400/422): more would only repeat the refusal."""


def retry_delay(attempt: int) -> float:
    """5 s, 10 s, 20 s ... capped at 20 minutes: about 1.5 hours over MAX_ATTEMPTS attempts."""
    return float(min(1200, 5 * 2 ** (attempt - 1)))


def attempts_allowed(error: Exception) -> int:
    """How many attempts a failure deserves before its events are dead-lettered."""
    if isinstance(error, PermanentError):
        if error.status == 404 and "ticket" in str(error).lower():
            return 1  # the ticket was deleted: no retry can bring it back
        if error.status in (400, 422):
            return REFUSED_ATTEMPTS
    return MAX_ATTEMPTS


@contextmanager
def keeping_leases(runtime: Runtime) -> Iterator[None]:
    """Renew this process's leases while a drain runs, so a slow ticket is never claimed twice."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(LEASE_RENEW_SECONDS):
            try:
                runtime.queue.leases.renew()
            except redis.RedisError:
                continue  # the drain itself notices the outage; the leases expire if it lasts

    thread = threading.Thread(target=renew, name="escalator-leases", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def drain(tenant: str, token: str) -> int:
    """Process due tickets of one tenant; returns how many were handled."""
    runtime = current()
    handled, started = 0, time.monotonic()
    held: str | None = token
    runtime.queue.hold_drainer(tenant, token)
    ctx, resolved = runtime.context(tenant), time.monotonic()
    try:
        with keeping_leases(runtime):
            while held is not None:
                if runtime.stopping.is_set():
                    break  # the finally hands the token back; another worker carries on
                claimed = runtime.queue.claim(tenant, held)
                if claimed is None:
                    # Give the token back, then look once more: an event may have arrived while we held it.
                    more = runtime.queue.release_drainer(tenant, held)
                    held = runtime.queue.acquire_drainer(tenant) if more else None
                    if held is not None:
                        runtime.queue.hold_drainer(tenant, held)
                    continue
                if time.monotonic() - resolved > CONTEXT_SECONDS:
                    ctx, resolved = runtime.context(tenant), time.monotonic()
                handle_ticket(runtime, ctx, claimed)
                handled += 1
                runtime.alive()
                if time.monotonic() - started > DRAIN_BUDGET_SECONDS:
                    runtime.queue.release_drainer(tenant, held)
                    held = None
                    runtime.wake(tenant)
    except UNAVAILABLE as error:
        runtime.outage.down(error)
        runtime.queue.leases.forget(tenant)
        held = None
        return handled  # leases are handed back once Redis answers; whoever claims the tickets carries on
    finally:
        if held is not None:
            _release_quietly(runtime, tenant, held)
    return handled


def _release_quietly(runtime: Runtime, tenant: str, token: str) -> None:
    try:
        runtime.queue.release_drainer(tenant, token)
        if runtime.stopping.is_set():
            runtime.wake(tenant)  # hand the rest of the work to a worker that is not stopping
    except redis.RedisError:
        pass  # the token's lease expires by itself


def handle_ticket(runtime: Runtime, ctx: TenantContext, claimed: Claimed) -> None:
    """One ticket's pending events, with every failure ending in a retry or the dead-letter list. Redis
    errors propagate: without Redis nothing can be retried or buried, and the lease keeps the events safe."""
    queue, tenant, ticket_id = runtime.queue, ctx.name, claimed.ticket_id
    if not claimed.raw and not claimed.outbox_json:
        queue.finish(tenant, ticket_id, 0)
        return
    try:
        base = TicketState.from_dict(json.loads(claimed.state_json)) if claimed.state_json else TicketState()
        pending = outbox.PendingDecision.from_json(claimed.outbox_json) if claimed.outbox_json else None
        outcome = process_ticket(ctx, runtime.redis, ticket_id, claimed.raw, base, pending)
        done = finish_for(tenant, outcome, ctx.policy, datetime.now(UTC))
    except UNAVAILABLE:
        raise
    except RateLimited as error:
        log.info("%s/%s: %s", tenant, ticket_id, error)
        queue.defer(tenant, ticket_id, error.retry_after)
        return
    except Interrupted:
        queue.defer(tenant, ticket_id, 0.0)  # not a failure: another worker takes it at once
        return
    except Exception as error:  # nothing may be lost: every failure is retried or buried
        _failed(runtime, tenant, ticket_id, claimed.raw, error)
        return
    queue.finish(tenant, ticket_id, outcome.consumed, done)
    _log(tenant, outcome)


def _log(tenant: str, outcome: Outcome) -> None:
    for raw, error in outcome.dead:
        log.warning("%s/%s: event dead-lettered at once (%s): %.200s", tenant, outcome.ticket_id, error, raw)
    for reason in outcome.plan.reasons:
        log.info("%s/%s: %s", tenant, outcome.ticket_id, reason)


def _failed(runtime: Runtime, tenant: str, ticket_id: str, raw: list[str], error: Exception) -> None:
    attempt = runtime.queue.record_failure(tenant, ticket_id)
    if attempt >= attempts_allowed(error):
        log.error(
            "%s/%s: giving up after %d attempts, events kept in the dead-letter list: %s",
            tenant,
            ticket_id,
            attempt,
            error,
        )
        runtime.queue.bury(tenant, ticket_id, raw, str(error), attempts=attempt)
        return
    delay = retry_delay(attempt)
    expected = isinstance(error, TransientError | PermanentError)
    # An expected condition is one line (at most once a minute per kind); a bug keeps its traceback.
    throttled(
        log,
        logging.WARNING if expected else logging.ERROR,
        f"{tenant}:{type(error).__name__}",
        "%s/%s: attempt %d failed (%s); retrying in %.0fs",
        tenant,
        ticket_id,
        attempt,
        error,
        delay,
        exc_info=None if expected else error,
    )
    runtime.queue.defer(tenant, ticket_id, delay)


def sweep(runtime: Runtime) -> None:
    """Recover from crashes and wake drains for deferred retries whose time has come."""
    runtime.queue.leases.release_orphans()
    for tenant in runtime.config.tenants:
        runtime.queue.reclaim(tenant)
        if runtime.queue.due_count(tenant):
            runtime.wake(tenant)


def quiet(runtime: Runtime, tenant: str) -> bool:
    """No event of the tenant waiting, held or queued as a job: what demos and tests wait for."""
    backlog = runtime.queue.backlog(tenant)
    jobs = runtime.jobs
    return (
        backlog["ready"] == 0 and backlog["processing"] == 0 and jobs.count == 0 and not jobs.started_job_registry.count
    )


def wait_quiet(runtime: Runtime, tenant: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if quiet(runtime, tenant):
            return True
        time.sleep(0.01)
    return False
