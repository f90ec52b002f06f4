"""One process's view of the deployment: configuration, Redis, the event queue, policies and vendor clients.

The webhook receiver and the workers both build one. Policies reload when their file changes; a file that
no longer loads is refused whole and the last good policy keeps running.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Queue

from escalator.connectors.base import Connector, DeskClient
from escalator.connectors.registry import CONNECTORS
from escalator.plugin.config import Config, TenantConfig
from escalator.plugin.logs import Outage
from escalator.plugin.queue import EventQueue
from escalator.plugin.timers import TimerStore
from escalator.rules.errors import PolicyError
from escalator.rules.loader import load_policy_file
from escalator.rules.model import TicketEvent
from escalator.rules.policy import Policy

log = logging.getLogger(__name__)

QUEUE_NAME = "escalator"
JOB_TIMEOUT_SECONDS = 900
"""A drain job's wall-clock limit; drains hand over (re-enqueue) well before it (see jobs.DRAIN_BUDGET)."""


@dataclass
class _LoadedPolicy:
    policy: Policy
    mtime: float


class Runtime:
    def __init__(
        self,
        config: Config,
        client: redis.Redis,
        *,
        max_drainers: int = 2,
        desk_clients: dict[str, DeskClient] | None = None,
        listener: redis.Redis | None = None,
    ) -> None:
        """`listener`: a client for the timer loop's pub/sub waits (no read timeout); `client` by default."""
        self.config = config
        self.redis = client
        self.queue = EventQueue(client, max_drainers=max_drainers)
        self.jobs = Queue(QUEUE_NAME, connection=client, default_timeout=JOB_TIMEOUT_SECONDS)
        self.timers = TimerStore(client, listener=listener)
        self._policies: dict[str, _LoadedPolicy] = {}
        self._clients: dict[str, DeskClient] = dict(desk_clients or {})
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        """Set when the process must stop: drains hand their tickets back, vendor calls are not retried."""
        self.outage = Outage("Redis", log)
        self.alive: Callable[[], None] = lambda: None
        """Called whenever the process makes progress (the worker's health file listens)."""

    def tenant(self, name: str) -> TenantConfig:
        return self.config.tenants[name]

    def connector(self, tenant: str) -> Connector:
        return CONNECTORS[self.tenant(tenant).vendor]

    def client(self, tenant: str) -> DeskClient:
        """The tenant's vendor client, built once, spending the tenant's rate-limit budget shared in Redis (and
        sharing rotated OAuth tokens there)."""
        with self._lock:
            if tenant not in self._clients:
                from escalator.plugin.ratelimit import tenant_limiter
                from escalator.plugin.tokens import RedisTokenStore

                config = self.tenant(tenant)
                limiter = tenant_limiter(self.redis, config.name, config.rate_limit)
                shared = {
                    "limiter": limiter,
                    "token_store": RedisTokenStore(self.redis, config.name),
                    "interrupt": self.stopping,
                }
                self._clients[tenant] = self.connector(tenant).client({**config.as_mapping(), **shared})
            return self._clients[tenant]

    def policy(self, tenant: str) -> Policy:
        """The tenant's policy, reloaded when the file changed; an invalid new version is logged and ignored."""
        path = self.tenant(tenant).rules_path
        mtime = _mtime(path)
        loaded = self._policies.get(tenant)
        if loaded is None or mtime != loaded.mtime:
            try:
                loaded = _LoadedPolicy(load_policy_file(path), mtime)
            except PolicyError as error:
                if loaded is None:
                    raise
                log.error("rules file %s is invalid; keeping the last good version: %s", path, error)
                loaded = _LoadedPolicy(loaded.policy, mtime)
            self._policies[tenant] = loaded
        return loaded.policy

    def accept(self, tenant: str, event: TicketEvent) -> bool:
        """Queue an event (webhook, timer, reconciliation) durably; False when it was a repeat delivery."""
        offer = self.queue.offer(tenant, event)
        if offer.drain_token is not None:
            self._enqueue_drain(tenant, offer.drain_token)
        return offer.accepted

    def wake(self, tenant: str) -> bool:
        """Make sure a drain job will look at the tenant's ready tickets; True if one was enqueued."""
        token = self.queue.acquire_drainer(tenant)
        if token is None:
            return False
        self._enqueue_drain(tenant, token)
        return True

    def _enqueue_drain(self, tenant: str, token: str) -> None:
        self.jobs.enqueue("escalator.plugin.jobs.drain", tenant, token, result_ttl=0, failure_ttl=7 * 24 * 3600)

    def idle(self, tenant: str) -> bool:
        """No event of the tenant waiting, held or queued as a job: what demos and tests wait for."""
        backlog = self.queue.backlog(tenant)
        return (
            backlog["ready"] == 0
            and backlog["processing"] == 0
            and self.jobs.count == 0
            and (self.jobs.started_job_registry.count == 0)
        )

    def wait_idle(self, tenant: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle(tenant):
                return True
            time.sleep(0.01)
        return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    """Make `runtime` the one RQ jobs in this process use (the embedded mode and tests install theirs)."""
    global _current
    _current = runtime


def current() -> Runtime:
    """The installed runtime, or one built from ESCALATOR_CONFIG and REDIS_URL (an `escalator worker`)."""
    global _current
    if _current is None:
        from escalator.plugin.config import load_config
        from escalator.plugin.connection import connect

        config = load_config(os.environ["ESCALATOR_CONFIG"])
        _current = Runtime(config, connect(os.environ["REDIS_URL"], "commands"))
    return _current
