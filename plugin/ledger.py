"""Which planned comments reached the help desk: the guard against sending a customer anything twice."""

from __future__ import annotations

import redis

from escalator.plugin import keys

LEDGER_SECONDS = 30 * 24 * 3600
"""Longer than a decision can possibly be retried for."""


class RedisLedger:
    def __init__(self, client: redis.Redis, tenant: str, ticket_id: str) -> None:
        self.redis = client
        self.key = keys.ledger(tenant, ticket_id)

    def state(self, key: str) -> str | None:
        value = self.redis.hget(self.key, key)
        return value.decode() if isinstance(value, bytes) else None

    def mark(self, key: str, state: str) -> None:
        pipe = self.redis.pipeline(transaction=False)  # one round trip; order within it is kept
        pipe.hset(self.key, key, state)
        pipe.expire(self.key, LEDGER_SECONDS)
        pipe.execute()
