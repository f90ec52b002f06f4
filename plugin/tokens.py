"""A tenant's Zendesk OAuth tokens in Redis: every worker uses the newest pair, one refreshes at a time.

Zendesk rotates the pair on every refresh and deletes the old one, so the pair cannot live in the
configuration file or in one process's memory: `esc:<tenant>:oauth` holds it (JSON), and
`esc:<tenant>:oauth:lock` is held while a process refreshes. The tokens are credentials: keep Redis private
(it already holds the queues), and never copy this key anywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import redis
from redis.exceptions import LockError

from escalator.plugin import keys

REFRESH_LOCK_SECONDS = 30.0
"""A refresh is one HTTP call; a holder that died frees the lock after this long."""


class RedisTokenStore:
    def __init__(self, client: redis.Redis, tenant: str) -> None:
        self.redis = client
        self.key = keys.tenant_key(tenant, "oauth")
        self.lock_key = keys.tenant_key(tenant, "oauth", "lock")

    def load(self) -> Mapping[str, Any] | None:
        raw = self.redis.get(self.key)
        if not raw:
            return None
        data = json.loads(raw)
        return data if isinstance(data, dict) else None

    def save(self, tokens: Mapping[str, Any]) -> None:
        self.redis.set(self.key, json.dumps(dict(tokens), separators=(",", ":")))

    @contextmanager
    def refreshing(self) -> Iterator[None]:
        lock = self.redis.lock(self.lock_key, timeout=REFRESH_LOCK_SECONDS, blocking_timeout=REFRESH_LOCK_SECONDS)
        if not lock.acquire():
            raise LockError(f"could not take {self.lock_key} within {REFRESH_LOCK_SECONDS:g}s")
        try:
            yield
        finally:
            with suppress(LockError):  # expired while we refreshed: nothing left to release
                lock.release()
