"""One process's services: configuration, Redis, the event queue, the drain-job queue, timers and tenants.

The webhook receiver and the workers each build one. RQ runs jobs by import path (`escalator.plugin.jobs.
drain`), so a drain job finds its process's runtime through `current()`: the worker assembly installs it,
and a bare `escalator worker` process builds it from ESCALATOR_CONFIG and REDIS_URL on first use.

On a Redis Cluster RQ cannot run (its commands span keys of many slots), so drain tokens are handed over in
Redis instead, on a per-tenant list workers serve themselves (`hand_over`, plugin.dispatch).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

import redis
from rq import Queue

from escalator.connectors.base import Connector, DeskClient
from escalator.plugin import keys
from escalator.plugin.config import Config, TenantConfig
from escalator.plugin.connection import is_cluster
from escalator.plugin.logs import Outage
from escalator.plugin.queue import Counting, EventQueue
from escalator.plugin.tenancy import TenantContext, Tenants
from escalator.plugin.timers import TimerStore
from escalator.rules.model import TicketEvent
from escalator.rules.policy import Policy

log = logging.getLogger(__name__)

QUEUE_NAME = "escalator"
JOB_TIMEOUT_SECONDS = 900
"""A drain job's wall-clock limit; drains hand over (re-enqueue) well before it (see jobs.DRAIN_BUDGET)."""


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
        self.listener = listener if listener is not None else client
        self.hand_over = is_cluster(client)
        """Drain tokens wait in Redis for workers (a cluster) rather than travel as RQ jobs."""
        self.queue = EventQueue(client, max_drainers=max_drainers, hand_over=self.hand_over)
        self.jobs = Queue(QUEUE_NAME, connection=client, default_timeout=JOB_TIMEOUT_SECONDS)
        self.stopping = threading.Event()
        """Set when the process must stop: drains hand their tickets back, vendor calls are not retried."""
        self.tenants = Tenants(config, client, self.stopping, desk_clients)
        self.outage = Outage("Redis", log)
        self.alive: Callable[[], None] = lambda: None
        """Called whenever the process makes progress (the worker's health file listens)."""
        self._timers: dict[str, TimerStore] = {}

    # --- tenants (see plugin.tenancy) ------------------------------------------------------------------------

    def tenant(self, name: str) -> TenantConfig:
        return self.tenants.settings(name)

    def connector(self, tenant: str) -> Connector:
        return self.tenants.connector(tenant)

    def client(self, tenant: str) -> DeskClient:
        return self.tenants.client(tenant)

    def policy(self, tenant: str) -> Policy:
        return self.tenants.policy(tenant)

    def context(self, tenant: str) -> TenantContext:
        return self.tenants.context(tenant)

    def timers(self, tenant: str) -> TimerStore:
        """The tenant's timer store: its keys share the tenant's hash slot, so its scripts run on a cluster."""
        store = self._timers.get(tenant)
        if store is None:
            store = self._timers[tenant] = TimerStore(self.redis, keys.timers(tenant), listener=self.listener)
        return store

    # --- the event queue -------------------------------------------------------------------------------------

    def accept(self, tenant: str, event: TicketEvent, counting: Counting | None = None) -> bool:
        """Queue an event (webhook, timer, reconciliation) durably; False when it was a repeat delivery.
        `counting`: metrics counters to bump in the same step (the receiver counts its answers so)."""
        offer = self.queue.offer(tenant, event, counting)
        if offer.drain_token is not None:
            self._enqueue_drain(tenant, offer.drain_token)
        return offer.accepted

    def accept_many(self, tenant: str, events: Sequence[TicketEvent], counting: Counting | None = None) -> list[bool]:
        """`accept` for many events of one tenant in one round trip (fired timers, a reconciliation pass)."""
        if not events:
            return []
        queued, token = self.queue.offer_many(tenant, events, counting)
        if token is not None:
            self._enqueue_drain(tenant, token)
        return queued

    def wake(self, tenant: str) -> bool:
        """Make sure a drain will look at the tenant's ready tickets; True if one was started (an RQ job, or a
        token handed over to the workers)."""
        token = self.queue.acquire_drainer(tenant)
        if token is None:
            return False
        if not self.hand_over:
            self._enqueue_drain(tenant, token)
        return True

    def _enqueue_drain(self, tenant: str, token: str) -> None:
        self.jobs.enqueue("escalator.plugin.jobs.drain", tenant, token, result_ttl=0, failure_ttl=7 * 24 * 3600)


_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    """Make `runtime` the one RQ jobs in this process use (the worker assembly and tests install theirs)."""
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
