"""What the admin commands need from a help desk, vendor-neutral: who we are, and the tickets in bulk.

`escalator install` checks the credentials and the groups; `escalator backfill` and reconciliation read the
help desk's ticket export (Zendesk's incremental export, Freshdesk's ticket list by `updated_since`) as
`ExportPage`s of `TicketRecord`s. Each vendor folder implements `TicketExport` in its `admin` module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from escalator.rules.model import Comment

DONE_STATUSES = frozenset({"solved", "closed", "deleted"})
"""Tickets the admin commands leave alone: nothing left to escalate (and closed ones cannot be updated)."""


SECRET_TAIL = 4


def masked(secret: str) -> str:
    """`…k3Zq, 43 characters`: enough to tell two secrets apart, not enough to use one."""
    if not secret:
        return "empty"
    return f"…{secret[-SECRET_TAIL:]}, {len(secret)} characters" if len(secret) > 2 * SECRET_TAIL else "hidden"


class AccessProblem(Exception):
    """The help desk refused who we are: `kind` is "credentials" (401) or "permissions" (403, or a role
    without the rights the set-up needs). The message is meant for the admin as is."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Identity:
    """The user (Zendesk) or agent (Freshdesk) Escalator authenticates as."""

    id: str
    name: str
    email: str
    role: str
    notes: tuple[str, ...] = ()
    """Warnings for the admin that do not stop the set-up (e.g. a Freshdesk agent without global access)."""


@dataclass(frozen=True)
class TicketRecord:
    """One ticket as the export saw it: enough to replay its history at its real instants."""

    ticket_id: str
    status: str
    """Common status (`new`, `open`, `pending`, `on_hold`, `solved`, `closed`), or `deleted`."""
    created_at: datetime
    updated_at: datetime
    group_id: str | None = None
    first_reply_at: datetime | None = None
    """The first public reply by an agent, when the vendor's export says (it fulfils the first-response SLA)."""
    snapshot: Mapping[str, Any] | None = None
    """The ticket in the shape the connector decides from without reading it back (Zendesk's event `detail`),
    or None when the worker must read the ticket back (Freshdesk)."""

    @property
    def open(self) -> bool:
        return self.status not in DONE_STATUSES


@dataclass(frozen=True)
class ExportPage:
    tickets: list[TicketRecord]
    checkpoint: str
    """Where to resume after this page (Zendesk's `after_cursor`; Freshdesk's `updated_since` and page)."""
    end: bool
    """No more pages for now (Zendesk's `end_of_stream`; Freshdesk's short page)."""


@dataclass(frozen=True)
class TimedComment:
    comment: Comment
    created_at: datetime


class TicketExport(Protocol):
    """A help desk's tickets in bulk, in the order they last changed, resumable from a checkpoint."""

    def pages(self, *, since: datetime, checkpoint: str | None = None) -> Iterator[ExportPage]:
        """Pages of tickets changed since `since` (or continuing after `checkpoint`), oldest change first."""

    def count_open(self) -> int | None:
        """How many tickets are not solved or closed, when the vendor can say cheaply (for a progress bar)."""

    def comments_since(self, ticket_id: str, since: datetime, limit: int = 10) -> list[TimedComment]:
        """The ticket's comments (notes and replies) newer than `since`, oldest first, at most `limit`."""
