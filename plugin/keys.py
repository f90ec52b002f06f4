"""Every Redis key Escalator uses, in one `esc:{<tenant>}:<kind>[:<name>]` scheme.

The braces are a Redis Cluster hash tag: every key of a tenant lands in the same slot, so each Lua script
(intake, claim, finish, timers) touches one slot and runs unchanged on one server, Sentinel or a cluster.
Tenants never share a key. The only keys outside a tenant are `esc:schema` (the layout's version, for
migrations), `esc:workers` (workers that run without RQ, on a cluster) and what RQ keeps under its `rq:` prefix.
"""

from __future__ import annotations

PREFIX = "esc"
SCHEMA = f"{PREFIX}:schema"
"""The key layout's version: 2 since keys are hash-tagged per tenant (plugin.migrate moves version 1)."""
SCHEMA_VERSION = 2
WORKERS = f"{PREFIX}:workers"
"""Hash: worker name -> "<state> <heartbeat epoch>", for workers serving hand-over lists (a cluster), whom RQ's
own worker registry does not know."""


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


def owners(tenant: str) -> str:
    """Hash: held ticket -> the queue (worker process) that claimed it. A finish or hand-back by a worker whose
    lease expired meanwhile (Redis unreachable past the lease) must not undo the new holder's."""
    return tenant_key(tenant, "owners")


def drainers(tenant: str) -> str:
    """Drain jobs running or queued for the tenant, scored by lease expiry (bounds parallelism)."""
    return tenant_key(tenant, "drainers")


def hand_over(tenant: str) -> str:
    """Drain tokens waiting for a worker that serves the ready sets itself (a cluster: no RQ), a list."""
    return tenant_key(tenant, "drains")


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


KPI_DAYS_KEPT = 400
"""How long daily KPI aggregates are kept: a year of history for the dashboard, and some."""


def kpi_day(tenant: str, day: str) -> str:
    """The day's KPI counters (a hash; rules.kpi says what each field means)."""
    return tenant_key(tenant, "kpi", day)


def kpi_values(tenant: str, day: str, series: str) -> str:
    """The day's durations of one series (a list of hours: resolution, time in tier, ...)."""
    return tenant_key(tenant, "kpi", f"{day}:{series}")


def kpi_series(tenant: str, day: str) -> str:
    """The names of the day's duration series (a set), so a report finds them without a scan."""
    return tenant_key(tenant, "kpi", f"{day}:series")


def history(tenant: str, kind: str, record_id: str) -> str:
    """When this organization's / requester's tickets became critical (a sorted set: ticket -> instant)."""
    return tenant_key(tenant, "history", f"{kind}:{record_id}")


def timers(tenant: str) -> str:
    """The namespace of the tenant's timer store (`<namespace>:timers:pending`, ...; see plugin.timers)."""
    return tenant_prefix(tenant)


def checkpoint(tenant: str, command: str) -> str:
    """`backfill` / `reconcile`: a command's checkpoint hash."""
    return tenant_key(tenant, command)


def as_text(value: bytes | str) -> str:
    """Redis answers bytes (or str with decode_responses); keys and ids are UTF-8 text either way."""
    return value.decode() if isinstance(value, bytes) else value


def incidents(tenant: str) -> str:
    """Every incident of the tenant, open or closed: incident id -> its record (JSON)."""
    return tenant_key(tenant, "incidents")


def open_incidents(tenant: str) -> str:
    """Incident rule id -> the id of its open incident (what a worker reads before deciding a ticket)."""
    return tenant_key(tenant, "incidents", "open")


def incident_tickets(tenant: str) -> str:
    """Ticket id -> the incident it belongs to (so its own rules know it is one of many)."""
    return tenant_key(tenant, "incidents", "tickets")


def incident_problems(tenant: str) -> str:
    """Problem ticket id -> the incident it belongs to."""
    return tenant_key(tenant, "incidents", "problems")


def incident_members(tenant: str, incident_id: str, kind: str) -> str:
    """An incident's tickets: `pending` (hash: ticket -> who to tell, awaiting the bulk notice), `notified` and
    `resolved` (sets: told, and sent the resolution)."""
    return tenant_key(tenant, "incident", f"{incident_id}:{kind}")


def detector(tenant: str, rule_id: str) -> str:
    """Tickets that matched an incident rule's trigger, scored by when (trimmed to the rule's window)."""
    return tenant_key(tenant, "detector", rule_id)
