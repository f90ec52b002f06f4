"""Every Redis key Escalator uses, in one `esc:<tenant>:<kind>[:<name>]` scheme (tenants never share a key)."""

from __future__ import annotations

PREFIX = "esc"


def tenant_key(tenant: str, kind: str, name: str | None = None) -> str:
    return f"{PREFIX}:{tenant}:{kind}" if name is None else f"{PREFIX}:{tenant}:{kind}:{name}"


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
    return tenant_key(tenant, "metrics")


def as_text(value: bytes | str) -> str:
    """Redis answers bytes (or str with decode_responses); keys and ids are UTF-8 text either way."""
    return value.decode() if isinstance(value, bytes) else value
