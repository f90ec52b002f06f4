"""RQ jobs. A drain job works through a tenant's ready tickets until none is due, then hands back its token."""

from __future__ import annotations

import json
import logging
import time

from escalator.connectors.errors import PermanentError, RateLimited, TransientError
from escalator.plugin.clock import schedule_timers
from escalator.plugin.processing import process_ticket, record
from escalator.plugin.queue import MAX_ATTEMPTS
from escalator.plugin.runtime import Runtime, current

log = logging.getLogger(__name__)

DRAIN_BUDGET_SECONDS = 300.0
"""A drain job hands over to a fresh one after this long, well inside the RQ job timeout."""


def retry_delay(attempt: int) -> float:
    """5 s, 10 s, 20 s ... capped at 20 minutes: about 1.5 hours over MAX_ATTEMPTS attempts."""
    return float(min(1200, 5 * 2 ** (attempt - 1)))


def drain(tenant: str, token: str) -> int:
    """Process due tickets of one tenant; returns how many were handled."""
    runtime = current()
    handled, started = 0, time.monotonic()
    held: str | None = token
    try:
        while held is not None:
            ticket_id = runtime.queue.claim(tenant)
            if ticket_id is None:
                # Give the token back, then look once more: an event may have arrived while we held it.
                more = runtime.queue.release_drainer(tenant, held)
                held = runtime.queue.acquire_drainer(tenant) if more else None
                continue
            handle_ticket(runtime, tenant, ticket_id)
            handled += 1
            runtime.queue.renew_drainer(tenant, held)
            if time.monotonic() - started > DRAIN_BUDGET_SECONDS:
                runtime.queue.release_drainer(tenant, held)
                held = None
                runtime.wake(tenant)
    finally:
        if held is not None:
            runtime.queue.release_drainer(tenant, held)
    return handled


def handle_ticket(runtime: Runtime, tenant: str, ticket_id: str) -> None:
    """One ticket's pending events, with every failure ending in a retry or the dead-letter list."""
    queue = runtime.queue
    events = queue.pending(tenant, ticket_id)
    if not events:
        queue.finish(tenant, ticket_id, 0)
        return
    try:
        outcome = process_ticket(runtime, tenant, ticket_id, events)
    except RateLimited as error:
        log.info("%s/%s: %s", tenant, ticket_id, error)
        queue.defer(tenant, ticket_id, error.retry_after)
        return
    except Exception as error:  # nothing may be lost: every failure is retried or buried
        attempt = queue.record_failure(tenant, ticket_id)
        if isinstance(error, PermanentError) and error.status == 404 and "ticket" in str(error).lower():
            attempt = MAX_ATTEMPTS  # the ticket is gone: retrying cannot help
        if attempt >= MAX_ATTEMPTS:
            log.error(
                "%s/%s: giving up after %d attempts, events kept in the dead-letter list: %s",
                tenant,
                ticket_id,
                attempt,
                error,
            )
            queue.bury(tenant, ticket_id, len(events), str(error))
        else:
            delay = retry_delay(attempt)
            level = logging.WARNING if isinstance(error, TransientError | PermanentError) else logging.ERROR
            log.log(
                level,
                "%s/%s: attempt %d failed (%s); retrying in %.0fs",
                tenant,
                ticket_id,
                attempt,
                error,
                delay,
                exc_info=level == logging.ERROR,
            )
            queue.defer(tenant, ticket_id, delay)
        return
    # Arm before finishing: a crash in between re-runs the ticket and arms the same timers again.
    outcome.state.timers = schedule_timers(runtime, tenant, ticket_id, outcome.state)
    queue.finish(tenant, ticket_id, outcome.consumed, json.dumps(outcome.state.to_dict(), separators=(",", ":")))
    record(runtime, tenant, outcome)
    for reason in outcome.plan.reasons:
        log.info("%s/%s: %s", tenant, ticket_id, reason)


def sweep(runtime: Runtime) -> None:
    """Recover from crashes and wake drains for deferred retries whose time has come."""
    for tenant in runtime.config.tenants:
        runtime.queue.reclaim(tenant)
        if runtime.queue.due_count(tenant):
            runtime.wake(tenant)
