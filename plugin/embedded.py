"""The embedded default: the whole service in one process, on an in-process Redis (fakeredis with Lua).

Why fakeredis rather than a bundled redis-server: it installs from PyPI on every platform with no binary to
download or compile, speaks the commands and Lua scripts Escalator uses, and starts in milliseconds. It keeps
nothing on disk, so the embedded mode is for trying Escalator and for demos; production sets REDIS_URL.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import fakeredis
import redis
from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty

from escalator.plugin.clock import start_timer_loop
from escalator.plugin.config import Config
from escalator.plugin.jobs import sweep
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install

log = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 1.0


class ThreadWorker(SimpleWorker):
    """An RQ worker that can run in a background thread (signal handlers belong to the main thread, so job
    timeouts use a timer instead of SIGALRM)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def embedded_redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def run_sweeper(runtime: Runtime, stop: threading.Event, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
    while not stop.wait(interval):
        try:
            sweep(runtime)
        except Exception:  # the sweeper must outlive a Redis hiccup
            log.exception("sweep failed")


class EmbeddedService:
    """Runtime + RQ worker thread + sweeper and timer threads in one process: on the in-process Redis by
    default, or on any Redis given (the tests run it on a real server)."""

    def __init__(
        self, config: Config, client: redis.Redis | None = None, *, reconcile: bool = False, **runtime_options: Any
    ) -> None:
        """`reconcile`: also run the periodic reconciliation pass (`escalator serve` does; demos and tests,
        whose fake help desks deliver every webhook, do not)."""
        self.redis = client if client is not None else embedded_redis()
        self.runtime = Runtime(config, self.redis, **runtime_options)
        self.reconcile = reconcile
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.worker: ThreadWorker | None = None

    def start(self) -> Runtime:
        install(self.runtime)
        self.worker = ThreadWorker([QUEUE_NAME], connection=self.redis)
        self.threads = [
            threading.Thread(target=self._work, name="escalator-worker", daemon=True),
            threading.Thread(
                target=run_sweeper, args=(self.runtime, self.stop_event), name="escalator-sweeper", daemon=True
            ),
        ]
        for thread in self.threads:
            thread.start()
        self.threads.append(start_timer_loop(self.runtime, self.stop_event))
        if self.reconcile:
            from escalator.plugin.admin.reconcile import start_reconciler

            self.threads.append(start_reconciler(self.runtime, self.stop_event))
        return self.runtime

    def _work(self) -> None:
        assert self.worker is not None
        self.worker.work(burst=False, logging_level="WARNING", with_scheduler=False)

    def stop(self) -> None:
        self.stop_event.set()
        if self.worker is not None:
            # request_stop() installs signal handlers, which only the main thread may do; the flag is enough
            # (the thread is a daemon, so a worker blocked waiting for a job does not hold up exit).
            self.worker._stop_requested = True
        for thread in self.threads:
            thread.join(timeout=1.5)
        install(None)
