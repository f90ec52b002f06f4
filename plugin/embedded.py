"""The embedded default: the whole service in one process, on an in-process Redis (fakeredis with Lua).

Why fakeredis rather than a bundled redis-server: it installs from PyPI on every platform with no binary to
download or compile, speaks the commands and Lua scripts Escalator uses, and starts in milliseconds. It keeps
nothing on disk, so the embedded mode is for trying Escalator and for demos; production sets REDIS_URL.
"""

from __future__ import annotations

from typing import Any

import fakeredis
import redis

from escalator.plugin.config import Config
from escalator.plugin.runtime import Runtime
from escalator.plugin.worker import ThreadWorker, WorkerService

__all__ = ["EmbeddedService", "ThreadWorker", "embedded_redis"]


def embedded_redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


class EmbeddedService:
    """The worker assembly of `escalator worker`, in background threads of this process: on the in-process
    Redis by default, or on any Redis given (the tests run it on a real server)."""

    def __init__(
        self, config: Config, client: redis.Redis | None = None, *, reconcile: bool = False, **runtime_options: Any
    ) -> None:
        """`reconcile`: also run the periodic reconciliation pass (`escalator serve` does; demos and tests,
        whose fake help desks deliver every webhook, do not)."""
        self.redis = client if client is not None else embedded_redis()
        self.runtime = Runtime(config, self.redis, **runtime_options)
        self.worker = WorkerService(self.runtime, rq_connection=self.redis, reconcile=reconcile, in_thread=True)

    def start(self) -> Runtime:
        return self.worker.start()

    def stop(self) -> None:
        self.worker.stop()
