"""A tenant as the worker sees it while deciding: its settings, connector, policy and client, resolved once.

`Tenants` builds each tenant's client once per process (its rate limiter and token store shared through
Redis) and reloads a policy when its file changes; a file that no longer loads is refused whole and the last
good policy keeps running. `context()` hands out one consistent snapshot, so a ticket is never decided on two
policy versions and its vendor client is not looked up again and again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import redis

from escalator.connectors.base import BulkReader, Connector, DeskClient, Services, SnapshotReader
from escalator.connectors.registry import connector_for
from escalator.plugin.config import Config, TenantConfig
from escalator.rules.errors import PolicyError
from escalator.rules.loader import load_policy_file
from escalator.rules.policy import Policy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantContext:
    """Everything one decision about one tenant's ticket needs, fixed for the decision's duration."""

    config: TenantConfig
    connector: Connector
    policy: Policy
    client: DeskClient

    @property
    def name(self) -> str:
        return self.config.name

    @cached_property
    def snapshot_reader(self) -> SnapshotReader | None:
        """The client, if it can decide from the events' snapshots. Asked once per context, not per ticket:
        an isinstance check against a runtime Protocol inspects every member each time."""
        return self.client if isinstance(self.client, SnapshotReader) else None

    @cached_property
    def bulk_reader(self) -> BulkReader | None:
        """The client, if it reads many tickets in one call (asked once, as `snapshot_reader`)."""
        return self.client if isinstance(self.client, BulkReader) else None


@dataclass
class _LoadedPolicy:
    policy: Policy
    mtime: float


class Tenants:
    def __init__(
        self,
        config: Config,
        client: redis.Redis,
        stopping: threading.Event,
        desk_clients: dict[str, DeskClient] | None = None,
    ) -> None:
        self.config = config
        self.redis = client
        self.stopping = stopping
        self._policies: dict[str, _LoadedPolicy] = {}
        self._clients: dict[str, DeskClient] = dict(desk_clients or {})
        self._lock = threading.Lock()

    def settings(self, tenant: str) -> TenantConfig:
        return self.config.tenants[tenant]

    def connector(self, tenant: str) -> Connector:
        return connector_for(self.settings(tenant).vendor)

    def client(self, tenant: str) -> DeskClient:
        """The tenant's vendor client, built once, spending the tenant's rate-limit budget shared in Redis (and
        sharing rotated tokens there)."""
        with self._lock:
            if tenant not in self._clients:
                from escalator.plugin.ratelimit import tenant_limiter
                from escalator.plugin.tokens import RedisTokenStore

                config = self.settings(tenant)
                services = Services(
                    limiter=tenant_limiter(self.redis, config.name, config.rate_limit),
                    token_store=RedisTokenStore(self.redis, config.name),
                    interrupt=self.stopping,
                )
                self._clients[tenant] = self.connector(tenant).client(config.settings(), services)
            return self._clients[tenant]

    def policy(self, tenant: str) -> Policy:
        """The tenant's policy, reloaded when the file changed; an invalid new version is logged and ignored."""
        path = self.settings(tenant).rules_path
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

    def context(self, tenant: str) -> TenantContext:
        return TenantContext(self.settings(tenant), self.connector(tenant), self.policy(tenant), self.client(tenant))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0
