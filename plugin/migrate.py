"""Moving a deployment's Redis data to the current key layout, once, when a worker starts.

Layout 1 (the first release) named keys `esc:<tenant>:...` and kept every tenant's timers in one set,
`esc:timers:pending`, with members `<tenant>:<ticket>:<name>`. Layout 2 hash-tags the tenant
(`esc:{<tenant>}:...`) so each tenant's keys share a Redis Cluster slot, and gives each tenant its own timer
set. Nothing queued, armed or remembered may be lost in the upgrade: every key is renamed and every timer moved
with its due. Layout 1 only ever ran on a single server, so RENAME across slots is not a concern.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import redis

from escalator.plugin import keys
from escalator.plugin.timers import TimerStore

log = logging.getLogger(__name__)

OLD_TIMERS = "esc:timers"


def migrate(client: redis.Redis, tenants: Iterable[str]) -> int:
    """Bring the data to layout 2 if it is older; returns how many keys moved. Idempotent and cheap once done
    (one GET of `esc:schema`)."""
    version = client.get(keys.SCHEMA)
    if version is not None and int(version) >= keys.SCHEMA_VERSION:
        return 0
    moved = 0
    for tenant in tenants:
        for old in client.scan_iter(match=f"{keys.PREFIX}:{tenant}:*", count=1000):
            name = keys.as_text(old)
            new = keys.tenant_prefix(tenant) + name[len(f"{keys.PREFIX}:{tenant}") :]
            client.rename(name, new)
            moved += 1
    moved += _move_timers(client)
    client.set(keys.SCHEMA, keys.SCHEMA_VERSION)
    if moved:
        log.warning("moved %d Redis keys to key layout %d (hash-tagged per tenant)", moved, keys.SCHEMA_VERSION)
    return moved


def _move_timers(client: redis.Redis) -> int:
    """Every armed timer of the shared set into its tenant's set, with its due (in-flight ones as pending: a
    claimed timer that was never acked fires again, as it would have after its lease)."""
    moved = 0
    for old_set in (f"{OLD_TIMERS}:pending", f"{OLD_TIMERS}:inflight"):
        entries: list[Any] = client.zrange(old_set, 0, -1, withscores=True)
        inflight = old_set.endswith("inflight")
        dues = {keys.as_text(k): v for k, v in client.hgetall(f"{OLD_TIMERS}:inflight_due").items()} if inflight else {}
        by_tenant: dict[str, list[tuple[str, float]]] = {}
        for member, score in entries:
            key = keys.as_text(member)
            due = float(dues[key]) if key in dues else float(score)
            by_tenant.setdefault(key.split(":", 1)[0], []).append((key, due))
        for tenant, items in by_tenant.items():
            TimerStore(client, keys.timers(tenant)).arm_many(items)
            moved += len(items)
        client.delete(old_set)
    client.delete(f"{OLD_TIMERS}:inflight_due")
    return moved
