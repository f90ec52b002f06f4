"""Every Redis key Escalator uses, in one `esc:{<tenant>}:<kind>[:<name>]` scheme.

The braces are a Redis Cluster hash tag: every key of a tenant lands in the same slot, so each Lua script
(intake, claim, finish, timers) touches one slot and runs unchanged on one server, Sentinel or a cluster.
Tenants never share a key. The only keys outside a tenant are `esc:schema` (the layout's version, for
migrations) and what RQ keeps under its own `rq:` prefix.
"""

from __future__ import annotations

PREFIX = "esc"
SCHEMA = f"{PREFIX}:schema"
"""The key layout's version: 2 since keys are hash-tagged per tenant (plugin.migrate moves version 1)."""
SCHEMA_VERSION = 2


def tenant_prefix(tenant: str) -> str:
    return f"{PREFIX}:{{{tenant}}}"


def tenant_key(tenant: str, kind: str, name: str | None = None) -> str:
    base = f"{tenant_prefix(tenant)}:{kind}"
    return base if name is None else f"{base}:{name}"


def dedupe(tenant: str, delivery_id: str) -> str:
    """Set once per delivery, for DEDUPE_SECONDS: repeats within that window are answered 200 and dropped."""
    return tenant_key(tenant, "seen", delivery_id)


def inbox(tenant: str, ticket_id: str) -> str:
    """Events of one ticket not yet applied, oldest first."""
    return tenant_key(tenant, "inbox", ticket_id)


def ready(tenant: str) -> str:
    """Tickets with pending events, scored by the time they may next be processed (retries score later)."""
    return tenant_key(tenant, "ready")


def processing(tenant: str) -> str:
    """Tickets a worker holds, scored by lease expiry: one worker per ticket, reclaimed if a worker dies."""
    return tenant_key(tenant, "processing")


def drainers(tenant: str) -> str:
    """Drain jobs running or queued for the tenant, scored by lease expiry (bounds parallelism)."""
    return tenant_key(tenant, "drainers")


def attempts(tenant: str) -> str:
    return tenant_key(tenant, "attempts")


def dead_letters(tenant: str) -> str:
    """Events that failed every retry, kept with the error for an admin to inspect and replay."""
    return tenant_key(tenant, "dead")


def state(tenant: str, ticket_id: str) -> str:
    return tenant_key(tenant, "ticket", ticket_id)


def ledger(tenant: str, ticket_id: str) -> str:
    return tenant_key(tenant, "sent", ticket_id)


def outbox(tenant: str, ticket_id: str) -> str:
    """A decision being written back: resumed, never re-decided, once part of it has landed."""
    return tenant_key(tenant, "outbox", ticket_id)


def journal(tenant: str, ticket_id: str) -> str:
    """The last decisions about a ticket, newest first: what fired, what was held back, why."""
    return tenant_key(tenant, "journal", ticket_id)


def metrics(tenant: str) -> str:
    """Operational counters (events, writes, replies, ...), a hash."""
    return tenant_key(tenant, "metrics")


def timers(tenant: str) -> str:
    """The namespace of the tenant's timer store (`<namespace>:timers:pending`, ...; see plugin.timers)."""
    return tenant_prefix(tenant)


def checkpoint(tenant: str, command: str) -> str:
    """`backfill` / `reconcile`: a command's checkpoint hash."""
    return tenant_key(tenant, command)


def as_text(value: bytes | str) -> str:
    """Redis answers bytes (or str with decode_responses); keys and ids are UTF-8 text either way."""
    return value.decode() if isinstance(value, bytes) else value
