"""What every vendor connector provides: inbound (verify, parse) and outbound (read, write back).

Adding a vendor is one folder implementing these and one line in `connectors.registry`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from escalator.rules.model import Comment, Ticket, TicketEvent
from escalator.rules.plan import Plan


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


class Connector(Protocol):
    """Inbound `headers` always have lower-case names (HTTP header names are case-insensitive)."""

    vendor: str

    def verify(self, tenant: Mapping[str, Any], body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        """Raise WebhookRejected(401) unless the request provably comes from the tenant's help desk."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        """Raise WebhookRejected(400) for payloads that are not from this vendor."""

    def client(self, tenant: Mapping[str, Any]) -> DeskClient: ...
