"""The worker, assembled once: RQ drain jobs, the timer loop, housekeeping and reconciliation.

`escalator worker` runs it in the foreground (RQ's loop in the main thread, where signals arrive); the
embedded mode and tests run the same assembly in threads. Either way nothing in it gives up on its own:

- RQ gets its own Redis client whose read timeout outlasts its blocking dequeue (a 5-second default there
  made the worker quit after 5 idle seconds), and its loop is restarted whenever it returns for any reason
  other than a stop request, after Redis answers again (capped, jittered backoff);
- the loops report a Redis outage once when it starts and once when it ends (`Outage`);
- SIGTERM finishes the ticket at hand (vendor calls are not retried once stopping), hands back leases and
  drain tokens, and exits within GRACE_SECONDS; a watchdog hands them back and exits if a call hangs;
- a health file is touched as the loops make progress (`escalator healthcheck` reads it; Docker asks it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

from escalator.plugin import roster
from escalator.plugin.connection import RQ_DEQUEUE_TIMEOUT, UNAVAILABLE
from escalator.plugin.dispatch import HandOverLoop
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install

log = logging.getLogger(__name__)

GRACE_SECONDS = 8.0
"""After SIGTERM: how long the ticket at hand may take before leases are handed back and the process exits
(Docker's default stop grace is 10 s; compose gives 15)."""
HOUSEKEEPING_SECONDS = 1.0
"""How often crashed workers' leases are reclaimed and due retries woken."""
HEALTH_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 10.0
WORKER_TTL = RQ_DEQUEUE_TIMEOUT + 15
"""RQ derives its dequeue timeout (ttl - 15) from this; the blocking client's read timeout outlasts it."""


def default_health_file() -> Path:
    return Path(os.environ.get("ESCALATOR_HEALTH_FILE") or "/tmp/escalator-worker.alive")


class DrainWorker(SimpleWorker):
    """RQ's SimpleWorker (drain jobs are long-lived loops, and per-process caches survive jobs) that tells the
    assembly about stop requests and heartbeats."""

    service: WorkerService | None = None

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.service is not None:
            self.service.begin_stop()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        super().heartbeat(*args, **kwargs)
        if self.service is not None:
            self.service.runtime.alive()


class ThreadWorker(DrainWorker):
    """A DrainWorker in a background thread: signal handlers belong to the main thread, so job timeouts use a
    timer instead of SIGALRM and no handlers are installed."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass

    def execute_job(self, job: Job, queue: Queue) -> None:
        """A thread cannot be interrupted in RQ's blocking dequeue: a job it takes after its stop is handed back
        to the front of the queue, untouched, for a worker that runs (in one process, a stopped assembly would
        otherwise drain for whatever runtime is installed next)."""
        if not self._stop_requested:
            super().execute_job(job, queue)
            return
        with self.connection.pipeline() as pipe:
            pipe.lrem(queue.intermediate_queue_key, 1, job.id)
            pipe.lpush(queue.key, job.id)
            pipe.execute()


class _QuietRqConnectionLog(logging.Filter):
    """RQ logs every reconnect attempt while Redis is down, and a traceback when Redis vanishes mid-loop; the
    outage is reported once by the assembly, which also restarts RQ's loop."""

    def __init__(self, service: WorkerService) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, UNAVAILABLE):
            self.service.runtime.outage.down(error)
            return False
        message = record.getMessage()
        if "could not connect to Redis" in message:
            args = record.args if isinstance(record.args, tuple) else ()
            cause = args[1] if len(args) > 1 else message  # RQ's (name, error, wait)
            self.service.runtime.outage.down(redis.ConnectionError(str(cause)))
            return False
        return "Redis connection timeout, quitting" not in message


@dataclass
class WorkerService:
    runtime: Runtime
    rq_connection: redis.Redis
    """RQ's own client: its blocking dequeue must not share a socket with a short read timeout."""
    reconcile: bool = True
    in_thread: bool = False
    health_file: Path | None = None
    grace: float = GRACE_SECONDS
    threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _rq: DrainWorker | None = None
    _hand_over: HandOverLoop | None = None
    _last_health: float = 0.0
    _last_beat: float = 0.0
    name: str = field(default_factory=roster.worker_name)

    def __post_init__(self) -> None:
        self.runtime.alive = self._alive
        self._filter = _QuietRqConnectionLog(self)

    # --- assembly --------------------------------------------------------------------------------------------

    def start_background(self) -> None:
        """Timers, housekeeping and (optionally) reconciliation, each in a daemon thread."""
        from escalator.plugin.clock import start_timer_loop

        self.threads.append(start_timer_loop(self.runtime, self._stop))
        self.threads.append(self._thread(self._housekeeping, "escalator-housekeeping"))
        if self.reconcile:
            from escalator.plugin.admin.reconcile import start_reconciler

            self.threads.append(start_reconciler(self.runtime, self._stop))

    def warm_up(self) -> None:
        """Load every tenant's policy and build its client now, not on the first event: a first load takes
        about a second (calendars, holidays, templates), which would otherwise land on a ticket's latency."""
        for tenant in self.runtime.config.tenants:
            try:
                self.runtime.context(tenant)
            except Exception as error:  # the drain reports it again, per ticket, with retries
                log.error("tenant %s cannot be prepared yet: %s", tenant, error)

    def run(self, *, burst: bool = False) -> int:
        """`escalator worker`: everything, RQ's loop in this (the main) thread; returns the exit code."""
        install(self.runtime)
        self.warm_up()
        self.start_background()
        try:
            self.run_rq(burst=burst)
        finally:
            self._stop.set()
        return 0

    def start(self) -> Runtime:
        """The embedded mode and tests: everything in background threads."""
        install(self.runtime)
        self.in_thread = True
        self.threads.append(self._thread(self.run_rq, "escalator-worker"))
        self.start_background()
        return self.runtime

    def stop(self, timeout: float = 1.5) -> None:
        self.begin_stop(watchdog=False)
        for thread in self.threads:
            thread.join(timeout=timeout)
        install(None)

    # --- the RQ loop -----------------------------------------------------------------------------------------

    def run_rq(self, *, burst: bool = False) -> None:
        """RQ's work loop, restarted until a stop is requested: RQ returns on a Redis timeout or an unexpected
        error (and its teardown may raise too); neither may end the worker. On a Redis Cluster, where RQ cannot
        run, the worker serves the tenants' hand-over lists instead (plugin.dispatch)."""
        if self.runtime.hand_over:
            self._serve_hand_over(burst=burst)
            return
        rq_log = logging.getLogger("rq.worker")
        rq_log.addFilter(self._filter)
        backoff = 0.5
        try:
            while not self._stop.is_set():
                worker_class = ThreadWorker if self.in_thread else DrainWorker
                worker = worker_class([QUEUE_NAME], connection=self.rq_connection, worker_ttl=WORKER_TTL)
                worker.service = self
                self._rq = worker
                try:
                    worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
                    if burst or self._stop.is_set() or worker._stop_requested:
                        return
                except UNAVAILABLE as error:
                    self.runtime.outage.down(error)
                except Exception as error:  # never let an unexpected error end the worker
                    log.error("the RQ loop stopped on an unexpected error; restarting it", exc_info=error)
                backoff = self._wait_for_redis(backoff)
        finally:
            rq_log.removeFilter(self._filter)
            if self.in_thread:
                self._rq = None

    def _serve_hand_over(self, *, burst: bool) -> None:
        if not self.in_thread:  # RQ installs these itself; without it the main thread needs its own
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda signum, frame: self.begin_stop())
        loop = self._hand_over = HandOverLoop(self.runtime, self._stop)
        try:
            if burst:
                while loop.serve(None):
                    continue
                return
            loop.run()
        finally:
            self._hand_over = None
            with contextlib.suppress(*UNAVAILABLE):
                roster.leave(self.runtime.redis, self.name)

    def _wait_for_redis(self, backoff: float) -> float:
        """Wait (capped, jittered) until Redis answers; returns the next backoff to use."""
        while not self._stop.is_set():
            try:
                self.rq_connection.ping()
                self.runtime.redis.ping()
            except UNAVAILABLE as error:
                self.runtime.outage.down(error)
                self._stop.wait(backoff + random.uniform(0, backoff))
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            self.runtime.outage.up()
            return 0.5
        return backoff

    # --- housekeeping ----------------------------------------------------------------------------------------

    def _housekeeping(self) -> None:
        from escalator.plugin.jobs import sweep

        while not self._stop.wait(HOUSEKEEPING_SECONDS):
            try:
                sweep(self.runtime)
                self.runtime.outage.up()
            except UNAVAILABLE as error:
                self.runtime.outage.down(error)
            except Exception as error:  # the sweeper must outlive anything a sweep meets
                log.error("housekeeping failed: %s", error, exc_info=error)
            self._beat()
            self._alive()

    def _beat(self) -> None:
        """Without RQ (a cluster), this worker's heartbeat in the roster: RQ's registry does not know it."""
        loop = self._hand_over
        now = time.monotonic()
        if loop is None or now - self._last_beat < roster.BEAT_SECONDS:
            return
        try:
            roster.beat(self.runtime.redis, self.name, "busy" if loop.busy else "idle")
            self._last_beat = now
        except UNAVAILABLE as error:
            self.runtime.outage.down(error)

    def _alive(self) -> None:
        if self.health_file is None:
            return
        now = time.monotonic()
        if now - self._last_health < HEALTH_SECONDS:
            return
        self._last_health = now
        try:
            self.health_file.touch()
        except OSError as error:
            log.warning("cannot touch the health file %s: %s", self.health_file, error)

    # --- stopping --------------------------------------------------------------------------------------------

    def begin_stop(self, *, watchdog: bool = True) -> None:
        """Stop taking work: drains hand back what they hold, vendor calls are not retried, loops end."""
        if self.runtime.stopping.is_set():
            return
        log.info("stopping: finishing the ticket at hand (at most %.0fs)", self.grace)
        self.runtime.stopping.set()
        self._stop.set()
        if self._rq is not None and self.in_thread:
            self._rq._stop_requested = True  # a thread cannot take signals; the flag is what RQ checks
        if watchdog and not self.in_thread:
            timer = threading.Timer(self.grace, self._force_exit)
            timer.daemon = True
            timer.start()

    def _force_exit(self) -> None:
        """The ticket at hand did not finish in time (a vendor call hangs): hand back every lease so another
        worker takes over at once, then exit. A saved plan is finished by whoever claims the ticket next; the
        comment ledger keeps a reply that may have left from being sent twice."""
        try:
            handed = self.runtime.queue.leases.release_all()
            log.warning("stop grace over: handed back %d ticket lease(s); exiting", handed)
        except redis.RedisError as error:
            log.warning("stop grace over; leases left to expire (%s)", error)
        os._exit(0)

    def _thread(self, target: Any, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread


def check_health(path: Path, max_age: float = 120.0) -> tuple[bool, str]:
    """For `escalator healthcheck`: is the worker's health file fresh?"""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False, f"no health file at {path} (is the worker running?)"
    if age > max_age:
        return False, f"the worker made no progress for {age:.0f}s"
    return True, f"alive ({age:.0f}s ago)"
