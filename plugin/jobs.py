"""Drain jobs. A drain works through a tenant's ready tickets until none is due, then hands back its token.

A drain runs as an RQ job (one server, Sentinel) or straight from a worker that took its token from the
tenant's hand-over list (a cluster, where RQ cannot run: plugin.dispatch); either way it is this function.
It claims tickets in batches (plugin.batches): one round trip leases a batch with everything needed to decide
on it, and one records the decisions. The tenant's policy and client are resolved once per drain (and again
only after CONTEXT_SECONDS, to pick up a changed rules file).

Nothing a drain meets may kill it or lose an event: a failure of one ticket is retried or dead-lettered; a
stopping worker hands its tickets back; a Redis outage ends the drain quietly (its leases are handed back
once Redis answers, or expire).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from escalator.connectors.errors import PermanentError, TransientError
from escalator.plugin.batches import work_batch
from escalator.plugin.connection import UNAVAILABLE
from escalator.plugin.leases import LEASE_RENEW_SECONDS
from escalator.plugin.logs import throttled
from escalator.plugin.queue import CLAIM_BATCH, MAX_ATTEMPTS
from escalator.plugin.runtime import Runtime, current

log = logging.getLogger(__name__)

DRAIN_BUDGET_SECONDS = 300.0
"""A drain job hands over to a fresh one after this long, well inside the RQ job timeout: no ticket is started
after it (the rest of the batch is handed back), and one started before it ends within the vendor's retries."""
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
    held: str | None = None
    try:
        if not runtime.queue.hold_drainer(tenant, token):
            return 0  # the token waited so long its slot went to another drain: those running carry the work
        held = token
        ctx, resolved = runtime.context(tenant), time.monotonic()
        with keeping_leases(runtime):
            while held is not None:
                if runtime.stopping.is_set():
                    break  # the finally hands the token back; another worker carries on
                claimed = runtime.queue.claim_batch(tenant, held, CLAIM_BATCH)
                if not claimed:
                    # Give the token back, then look once more: an event may have arrived while we held it.
                    more = runtime.queue.release_drainer(tenant, held)
                    held = runtime.queue.acquire_drainer(tenant, keep=True) if more else None
                    if held is not None and not runtime.queue.hold_drainer(tenant, held):
                        held = None
                    continue
                if time.monotonic() - resolved > CONTEXT_SECONDS:
                    ctx, resolved = runtime.context(tenant), time.monotonic()
                handled += work_batch(runtime, ctx, claimed, failed, deadline=started + DRAIN_BUDGET_SECONDS)
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
    except BaseException:
        # A bug, a refused script, RQ's job timeout: the tickets go back at once (not renewed by every later
        # drain of this process), and RQ records the failed job.
        with contextlib.suppress(redis.RedisError):
            runtime.queue.leases.give_back(tenant)
        raise
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


def failed(runtime: Runtime, tenant: str, ticket_id: str, raw: list[str], error: Exception) -> None:
    """A ticket's failure: retried after a backoff, or its events dead-lettered once it had the attempts the
    kind of failure deserves."""
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
    """No event of the tenant waiting, held, or queued as a drain: what demos and tests wait for."""
    backlog = runtime.queue.backlog(tenant)
    if backlog["ready"] or backlog["processing"]:
        return False
    if runtime.queue.hand_over:
        return runtime.queue.tokens_waiting(tenant) == 0
    return runtime.jobs.count == 0 and not runtime.jobs.started_job_registry.count


def wait_quiet(runtime: Runtime, tenant: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if quiet(runtime, tenant):
            return True
        time.sleep(0.01)
    return False
