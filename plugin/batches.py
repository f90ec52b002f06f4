"""One claimed batch of tickets through a drain: read, decide, write back, record — in as few round trips as
the batch allows.

The claim (one round trip) brought every ticket's inbox, state, saved plan and comment ledger. The batch is
then read (each ticket from its events' own snapshots where the connector can; the history facts of all of
them in one pipeline), decided one ticket at a time (rules.fold, pure), written back where a plan has writes
(plugin.processing), and recorded with one finish for many tickets (plugin.queue). A ticket that matches
nothing therefore costs a share of two round trips and no vendor call.

Every ticket's failure stays its own: it is deferred, retried with backoff or dead-lettered (plugin.jobs
`failed`), and the rest of the batch goes on. A Redis outage propagates: the leases keep the events safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing
from datetime import UTC, datetime
from functools import partial
from queue import Empty, SimpleQueue
from typing import TypeVar

import redis

from escalator.connectors.errors import Interrupted, RateLimited
from escalator.plugin.connection import UNAVAILABLE
from escalator.plugin.finishing import Finish, Finished
from escalator.plugin.ledger import PassLedger
from escalator.plugin.processing import Outcome, process_ticket, read_histories
from escalator.plugin.queue import Claimed
from escalator.plugin.reading import Prepared, decode, read_back_together, read_ticket
from escalator.plugin.recording import finish_for
from escalator.plugin.runtime import Runtime
from escalator.plugin.tenancy import TenantContext

log = logging.getLogger(__name__)

T = TypeVar("T")

DECIDERS = 4
"""Tickets of a batch decided and written back at once in a worker process: enough to keep deciding while
write-backs wait on the help desk, few enough to stay polite to it (the rate limit holds either way)."""
FLUSH_SECONDS = 0.25
"""Finished tickets wait at most this long for the rest of their batch before they are recorded: a batch
with slow write-backs in it does not hold up the quick decisions beside them."""

Failed = Callable[[Runtime, str, str, list[str], Exception], None]
"""How a ticket's failure is retried or buried (plugin.jobs.failed)."""


def work_batch(
    runtime: Runtime, ctx: TenantContext, claimed: Sequence[Claimed], failed: Failed, deadline: float | None = None
) -> int:
    """Decide and record a claimed batch; returns how many tickets were handled. On a stop request, or once
    the drain's `deadline` (time.monotonic) has passed, what is not yet decided is handed back at once for
    another drain."""
    queue, tenant = runtime.queue, ctx.name
    raws = {item.ticket_id: item.raw for item in claimed}
    finished: list[Finished] = []
    prepared: list[Prepared] = []
    decoded: list[Prepared] = []
    for item in claimed:
        if not item.raw and not item.outbox_json:
            finished.append(Finished(item.ticket_id, 0, Finish()))
            continue
        ready = _guarded(runtime, tenant, item, failed, partial(decode, item))
        if ready is not None:
            decoded.append(ready)
    read_back_together(ctx, decoded)
    for ready in decoded:
        if _guarded(runtime, tenant, ready.claimed, failed, partial(read_ticket, ctx, ready)) is not None:
            prepared.append(ready)
    reading = [ready for ready in prepared if ready.fresh is not None]
    histories = dict(
        zip(
            (id(ready) for ready in reading),
            read_histories(runtime.redis, ctx, [ready.fresh for ready in reading if ready.fresh is not None]),
            strict=True,
        )
    )

    def decide(ready: Prepared) -> Finished | Prepared | None:
        if runtime.stopping.is_set() or (deadline is not None and time.monotonic() > deadline):
            return ready  # handed back below, for a drain that is not stopping or out of time
        return _guarded(
            runtime, tenant, ready.claimed, failed, lambda: _decide(runtime, ctx, ready, histories.get(id(ready)))
        )

    flushed, handed_back = time.monotonic(), []
    with closing(_as_decided(decide, prepared)) as results:  # closed at once on an error: see _as_decided
        for done in results:
            # None: FLUSH_SECONDS without a result, or a ticket that was deferred, retried or buried
            if isinstance(done, Prepared):
                handed_back.append(done.claimed.ticket_id)
            elif done is not None:
                finished.append(done)
            if finished and time.monotonic() - flushed >= FLUSH_SECONDS:
                record(runtime, tenant, finished, raws, failed)
                finished, flushed = [], time.monotonic()
    record(runtime, tenant, finished, raws, failed)
    queue.defer_many(tenant, handed_back)
    return len(claimed)


def _as_decided(work: Callable[[Prepared], T], items: Sequence[Prepared]) -> Generator[T | None, None, None]:
    """`work` on every item, DECIDERS at a time: each result as it comes, and None whenever FLUSH_SECONDS pass
    without one, so the caller records what is finished while a slow write-back still waits on the help desk.

    Nothing is still running when this ends, however it ends: on an error (Redis gone, raised by a decider or
    by the caller's recording) the items not started are cancelled and the running ones waited for, so no
    ticket is still being written to the help desk when the drain hands its leases over."""
    if len(items) < 2:
        yield from (work(item) for item in items)
        return
    finished: SimpleQueue[Future[T]] = SimpleQueue()  # each future as it ends: one hand-over, no polling
    futures = [_pool().submit(work, item) for item in items]
    for future in futures:
        future.add_done_callback(finished.put)
    try:
        left = len(futures)
        while left:
            try:
                future = finished.get(timeout=FLUSH_SECONDS)
            except Empty:
                yield None  # FLUSH_SECONDS without a result
                continue
            left -= 1
            yield future.result()
    finally:
        for future in futures:
            future.cancel()  # those not started; the running ones are waited for
        wait(futures)


_deciders: ThreadPoolExecutor | None = None
_deciders_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _deciders
    with _deciders_lock:
        if _deciders is None:
            _deciders = ThreadPoolExecutor(DECIDERS, thread_name_prefix="escalator-decide")
        return _deciders


def _decide(runtime: Runtime, ctx: TenantContext, ready: Prepared, history: dict[str, int] | None) -> Finished:
    claimed = ready.claimed
    ledger = PassLedger(runtime.redis, ctx.name, claimed.ticket_id, claimed.ledger)
    outcome = process_ticket(
        ctx,
        runtime.redis,
        claimed.ticket_id,
        claimed.raw,
        ready.base,
        ready.pending,
        ledger=ledger,
        batch=ready.batch,
        fresh=ready.fresh,
        history=history,
    )
    done = finish_for(ctx.name, outcome, ctx.policy, datetime.now(UTC), before=ready.base)
    done.sent = outcome.sent
    _log(ctx.name, outcome)
    return Finished(claimed.ticket_id, outcome.consumed, done)


def record(
    runtime: Runtime, tenant: str, finished: list[Finished], raws: Mapping[str, list[str]], failed: Failed
) -> None:
    """Finish the tickets in one step; should Redis refuse it (a bug or bad data, not an outage), finish them
    one by one so only the culprit fails."""
    if not finished:
        return
    try:
        runtime.queue.finish_many(tenant, finished)
        return
    except UNAVAILABLE:
        raise
    except redis.RedisError as error:
        if len(finished) == 1:
            failed(runtime, tenant, finished[0].ticket_id, list(raws.get(finished[0].ticket_id, [])), error)
            return
        log.warning("%s: recording %d tickets at once failed (%s); one by one", tenant, len(finished), error)
    for item in finished:
        record(runtime, tenant, [item], raws, failed)


def _guarded(runtime: Runtime, tenant: str, claimed: Claimed, failed: Failed, work: Callable[[], T]) -> T | None:
    """`work` for one ticket, with every failure ending in a deferral, a retry or the dead-letter list. Redis
    errors propagate: without Redis nothing can be retried or buried, and the lease keeps the events safe."""
    try:
        return work()
    except UNAVAILABLE:
        raise
    except RateLimited as error:
        log.info("%s/%s: %s", tenant, claimed.ticket_id, error)
        runtime.queue.defer(tenant, claimed.ticket_id, error.retry_after)
    except Interrupted:
        runtime.queue.defer(tenant, claimed.ticket_id, 0.0)  # not a failure: another worker takes it at once
    except Exception as error:  # nothing may be lost: every failure is retried or buried
        failed(runtime, tenant, claimed.ticket_id, claimed.raw, error)
    return None


def _log(tenant: str, outcome: Outcome) -> None:
    for raw, error in outcome.dead:
        log.warning("%s/%s: event dead-lettered at once (%s): %.200s", tenant, outcome.ticket_id, error, raw)
    for reason in outcome.plan.reasons:
        log.info("%s/%s: %s", tenant, outcome.ticket_id, reason)
