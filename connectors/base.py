"""What every vendor connector provides, and all the plugin knows of a help desk.

A connector owns everything vendor-specific: its settings (schema, defaults, credential checks), inbound
webhooks (verify, parse), the API client (read, write back, auth and token refresh), the admin calls
(`escalator install`'s set-up steps) and the export (backfill and reconciliation: pages, cursor policy, the
vendor's own rate limit on it). The plugin reaches a vendor only through `connectors.registry`; adding a
help desk is one folder implementing `Connector` and one line there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from escalator.rules.model import Comment, Ticket, TicketEvent
from escalator.rules.plan import Plan

if TYPE_CHECKING:
    from escalator.connectors.admin import Identity, TicketExport
    from escalator.connectors.ratelimit import RateLimiter


@dataclass(frozen=True)
class TenantSettings:
    """What a connector knows of its tenant: the vendor-neutral settings, resolved (secrets read from the
    environment), and the settings only this vendor has (its `settings_schema` keys, validated)."""

    name: str
    base_url: str
    auth: Mapping[str, str]
    webhook_secret: str
    options: Mapping[str, Any] = field(default_factory=dict)


class TokenStore(Protocol):
    """Where a tenant's newest credentials are kept when the vendor rotates them (OAuth refresh), shared by
    every process that calls the tenant's help desk."""

    def load(self) -> Mapping[str, Any] | None: ...

    def save(self, tokens: Mapping[str, Any]) -> None: ...

    def refreshing(self) -> AbstractContextManager[object]:
        """Held while one process refreshes, so no two use the same refresh token."""


@dataclass(frozen=True)
class Services:
    """What the running service lends a tenant's client: the tenant's shared rate limit, where rotated tokens
    live, and the signal that the process is stopping (no call is retried after it)."""

    limiter: RateLimiter | None = None
    token_store: TokenStore | None = None
    interrupt: threading.Event | None = None


@dataclass(frozen=True)
class ExportPolicy:
    """How a vendor's ticket export behaves, for backfill and reconciliation."""

    exports_per_minute: float | None = None
    """The vendor's own limit on export calls, on top of the request budget (None: none)."""
    settle: timedelta = timedelta(0)
    """How long a change may take to show in the export (a list endpoint that lags): reconciliation looks
    that far back again on every pass."""
    exact_cursor: bool = False
    """The export resumes from an opaque cursor exactly where it stopped (else from a time watermark)."""


@dataclass(frozen=True)
class Inbound:
    """A verified webhook, understood: either an event to queue or a known event we ignore (with why)."""

    event: TicketEvent | None
    ignored: str | None = None


class CommentLedger(Protocol):
    """Durable memory of which planned comments were sent, so a retry never repeats one to a customer."""

    def state(self, key: str) -> str | None:
        """None (never tried), "sending" (tried, outcome unknown) or "sent"."""

    def mark(self, key: str, state: str) -> None: ...


class DeskClient(Protocol):
    """A tenant's help desk API, as the worker needs it."""

    def own_user_id(self) -> str:
        """The id of the user Escalator writes as: events by this user are our own echoes."""

    def fetch_ticket(self, ticket_id: str) -> Ticket: ...

    def groups(self, refresh: bool = False) -> dict[str, str]:
        """Group id -> name (cached; `refresh` reads them afresh)."""

    def latest_comment(self, ticket_id: str) -> Comment | None: ...

    def apply(self, ticket: Ticket, plan: Plan, ledger: CommentLedger) -> int:
        """Write the plan back in as few calls as the API allows; returns the number of write calls made.
        Raises ConflictError when the ticket changed underneath (the caller re-reads and re-decides)."""


@runtime_checkable
class SnapshotReader(Protocol):
    """Optional: a client that can decide from the events' own ticket snapshots, saving the read-back call
    (Zendesk's event payloads carry the ticket; Freshdesk's placeholders do not)."""

    def ticket_for(
        self, ticket_id: str, events: Sequence[TicketEvent], *, fields: Collection[str], read_back: bool
    ) -> Ticket:
        """The ticket to decide `events` on: from their snapshots, or read back when `read_back` is set, a
        snapshot is missing, or the rules read `fields` a snapshot does not carry."""


@runtime_checkable
class BulkReader(Protocol):
    """Optional: a client that reads many tickets in one call (Zendesk's `show_many`: 100 a call), so a burst
    of deadlines costs one read per hundred tickets instead of one per ticket."""

    def fetch_tickets(self, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        """The tickets found, by id, each as `fetch_ticket` gives it (a deleted one is missing)."""


@dataclass
class InstallStep:
    """What `escalator install` hands a connector for its vendor-specific set-up, and how it reports: one
    `line(tag, text)` per check or action (`ok`, `create`, `update`, `next`, `warn`, `manual`), `problem(text)`
    for what must be fixed (the command then exits 1)."""

    tenant: str
    settings: TenantSettings
    webhook_url: str
    dry_run: bool
    show_secret: bool
    env_names: Mapping[str, str]
    """Setting (`webhook_secret`, ...) -> the environment variable it is read from, to name in messages."""
    line: Callable[[str, str], None]
    problem: Callable[[str], None]


class DeskAdmin(Protocol):
    """The calls the admin commands make to a help desk, through the tenant's client."""

    def whoami(self) -> Identity:
        """Who we are; AccessProblem when the help desk refuses the credentials or the role lacks rights."""

    def groups(self) -> dict[str, str]:
        """Group id -> name, read afresh."""

    def install(self, step: InstallStep) -> None:
        """Create or update, idempotently, what the help desk needs to send us events (or say what the admin
        must do by hand, and why)."""


@dataclass(frozen=True)
class HistoryChunk:
    """A run of history lines (DESIGN §9, as dicts in the documented key order) and where to resume after
    them: what a connector's history export yields, one chunk per page it read from the vendor."""

    lines: list[dict[str, Any]]
    checkpoint: str
    """Opaque: give it back to `chunks` to continue right after this chunk."""
    read: int
    """Vendor records this chunk read (Zendesk ticket updates, Freshdesk tickets), for a progress bar."""
    reached: datetime | None = None
    """How far in time the export has come (the vendor's order), for a progress bar."""


class HistoryExport(Protocol):
    """A help desk's ticket history as history lines, for `escalator export`."""

    def chunks(self, *, since: datetime, checkpoint: str | None = None) -> Iterator[HistoryChunk]:
        """The history of the tickets changed since `since` (or continuing after `checkpoint`); each ticket's
        lines in time order. The caller handles RateLimited by waiting and resuming from the last checkpoint."""


@dataclass(frozen=True)
class Notice:
    """One public message to one ticket of an incident (its notice, or its resolution)."""

    ticket_id: str
    body: str


class IncidentDesk(Protocol):
    """A help desk's side of a mass incident (plugin.incidents): one problem ticket, the affected tickets
    linked to it and told in bulk. Bulk sends answer with background jobs; plugin.incidents records each job
    before waiting on it, so a crash never makes it send a ticket's message twice."""

    def create_problem(
        self, *, incident_id: str, subject: str, note: str, group: str, priority: str, members: Sequence[str]
    ) -> str:
        """The problem (Zendesk) or tracker (Freshdesk) ticket, in `group`, with `note` as its internal note;
        returns its id."""

    def find_problem(self, incident_id: str) -> str | None:
        """The problem ticket an unanswered `create_problem` may have made (None when it made none, or when the
        vendor cannot tell)."""

    def start(self, problem_id: str, notices: Sequence[Notice], *, resolve: bool) -> list[tuple[str, list[str]]]:
        """Send the notices in bulk: linking each ticket to the problem, or (`resolve`) solving it; returns the
        bulk jobs (an opaque reference for `finished`, and the tickets each covers)."""

    def finished(self, job: str) -> set[str] | None:
        """The tickets a bulk job reached, once it finished (None while it still runs)."""

    def reached(self, problem_id: str, ticket_ids: Sequence[str]) -> set[str]:
        """After a bulk send whose answer was lost: the tickets provably linked to the problem already (empty
        when the vendor cannot tell)."""


class Connector(Protocol):
    """Inbound `headers` always have lower-case names (HTTP header names are case-insensitive)."""

    vendor: str
    display_name: str
    default_host: str
    """`https://{}.example.com`: the address a `subdomain` setting stands for."""
    default_rate_limit: Mapping[str, int]
    """The tenant's outbound budget when the admin sets none: the vendor's smallest plan."""
    settings_schema: Mapping[str, Mapping[str, Any]]
    """The tenant settings only this vendor has: key (`freshdesk`, `zendesk_app`) -> its JSON Schema. Their
    values reach the connector as `TenantSettings.options`."""
    export_policy: ExportPolicy

    def auth_problems(self, auth: Mapping[str, Any]) -> list[str]:
        """What is wrong with the `auth` settings (empty when they are usable)."""

    def auth_warnings(self, auth: Mapping[str, Any]) -> list[str]:
        """What `install` should warn about (e.g. a credential kind the vendor is retiring)."""

    def rotates_tokens(self, auth: Mapping[str, Any]) -> bool:
        """Whether these credentials are rotated by the vendor, so every process must share a token store."""

    def verify(self, tenant: TenantSettings, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        """Raise WebhookRejected(401) unless the request provably comes from the tenant's help desk."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        """Raise WebhookRejected(400) for payloads that are not from this vendor."""

    def client(self, tenant: TenantSettings, services: Services) -> DeskClient: ...

    def admin(self, client: DeskClient) -> DeskAdmin: ...

    def export(self, client: DeskClient, pace: Callable[[], None]) -> TicketExport:
        """The tenant's tickets in bulk; `pace` is called before each export call (the shared export budget)."""

    def history(self, client: DeskClient, pace: Callable[[], None]) -> HistoryExport:
        """The tenant's ticket history as history lines (`escalator export`); `pace` as for `export`."""

    def incidents(self, client: DeskClient, sleep: Callable[[float], None]) -> IncidentDesk | None:
        """The help desk's side of mass incidents (None: this vendor has none; incident rules then stay idle).
        `sleep` waits between polls of a bulk job."""
