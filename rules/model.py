"""The vendor-neutral domain: tickets and the events that happen to them.

Connectors translate vendor payloads into these types; the rule engine reads only these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
STATUSES: tuple[str, ...] = ("new", "open", "pending", "on_hold", "solved", "closed")

EVENT_KINDS: tuple[str, ...] = (
    "ticket.created",
    "ticket.updated",
    "comment.added",
    "ticket.solved",
    "ticket.reopened",
    "sla.warning",
    "sla.breached",
    "ticket.bounced",
    "ticket.escalated",
    "sla.pause_suspicious",
    "timer.elapsed",
)
"""Every event the engine evaluates; `timer.elapsed` drives `after`/`since` triggers and is not usable in `on`.
`ticket.bounced` and `ticket.escalated` are raised by the engine for what another event caused (a return to a
group the ticket left; an agent's escalation)."""


def parse_instant(value: str | None) -> datetime | None:
    """ISO 8601 (with `Z` or an offset) to an aware UTC datetime; None stays None."""
    if not value:
        return None
    if type(value) is str:
        return parse_instant_text(value)
    return _parse(value)


@lru_cache(maxsize=65_536)
def parse_instant_text(value: str) -> datetime:
    # The state keeps its instants as text and every decision re-reads the same few anchors and clocks: the
    # result (immutable) is kept. A bad value raises each time, as an exception is never cached.
    return _parse(value)


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_instant(value: datetime) -> str:
    """UTC ISO 8601 with a `Z`, to the second when there is no fraction (the form help desks use)."""
    if value.tzinfo is UTC:  # the engine's own instants: already UTC, no conversion to make
        return _format_utc(value)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=8192)
def _format_utc(value: datetime) -> str:
    # Kept per instant: one decision writes its event's instant into half a dozen anchors, clocks and logs.
    # UTC only: in a zone with DST, the two local times of a fall-back hour compare equal as datetimes.
    return value.isoformat().replace("+00:00", "Z")


def canonical_instant(value: Any) -> str | None:
    """`value` (text from a payload, a history line, a timer's detail) as `format_instant` writes it, or None
    when it is not an ISO 8601 instant: instants compared as text must be spelled one way."""
    try:
        instant = parse_instant(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return format_instant(instant) if instant else None


_Record = TypeVar("_Record")


def revised(record: _Record, **changes: Any) -> _Record:
    """`dataclasses.replace` for this module's frozen records (every field an `__init__` argument, no
    `__post_init__`): the record's values with `changes`, without replace's per-call walk of the fields (a
    replay makes a changed ticket or event for most of its decisions)."""
    fields = record.__dataclass_fields__  # type: ignore[attr-defined]
    unknown = [name for name in changes if name not in fields]
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {', '.join(unknown)}")
    clone = object.__new__(type(record))
    values = clone.__dict__
    values.update(record.__dict__)
    values.update(changes)
    return clone


@dataclass(frozen=True)
class Person:
    id: str | None = None
    name: str = ""
    email: str | None = None
    locale: str | None = None
    tags: tuple[str, ...] = ()
    time_zone: str | None = None
    """IANA name (`America/New_York`): deadlines are told to the customer in their own time."""

    @property
    def first_name(self) -> str:
        """The first word of the name; "" when no name is known (templates then greet without one)."""
        return self.name.split()[0] if self.name.strip() else ""


@dataclass(frozen=True)
class Organization:
    id: str | None = None
    name: str = ""
    tags: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Comment:
    body: str
    public: bool
    author: str  # "requester" or "agent"
    author_id: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Ticket:
    """A ticket as the help desk holds it now (read back from the vendor API before deciding)."""

    id: str
    subject: str = ""
    description: str = ""
    status: str = "new"
    priority: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    """Filled by the connector from its cached group directory, so rules can name groups."""
    assignee_id: str | None = None
    assignee_name: str | None = None
    """Filled by connectors that know it cheaply, so a note can name the agent it nudges."""
    requester: Person = field(default_factory=Person)
    organization: Organization | None = None
    tags: tuple[str, ...] = ()
    channel: str | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: str | None = None
    """The vendor's concurrency token (Zendesk `updated_stamp`)."""
    followers: tuple[str, ...] = ()
    """Agents following the ticket, where the vendor says (Zendesk `follower_ids`)."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = format_instant(self.created_at) if self.created_at else None
        data["updated_at"] = format_instant(self.updated_at) if self.updated_at else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ticket:
        organization = data.get("organization")
        return cls(
            id=str(data["id"]),
            subject=data.get("subject") or "",
            description=data.get("description") or "",
            status=data.get("status") or "new",
            priority=data.get("priority"),
            group_id=data.get("group_id"),
            group_name=data.get("group_name"),
            assignee_id=data.get("assignee_id"),
            requester=Person(**{**data.get("requester", {}), "tags": tuple(data.get("requester", {}).get("tags", ()))}),
            organization=Organization(**{**organization, "tags": tuple(organization.get("tags", ()))})
            if organization
            else None,
            tags=tuple(data.get("tags") or ()),
            channel=data.get("channel"),
            custom_fields=dict(data.get("custom_fields") or {}),
            created_at=parse_instant(data.get("created_at")),
            updated_at=parse_instant(data.get("updated_at")),
            version=data.get("version"),
            followers=tuple(data.get("followers") or ()),
        )


@dataclass(frozen=True)
class TicketEvent:
    """One thing that happened to one ticket: from a webhook, a timer, a backfill or reconciliation."""

    delivery_id: str
    kind: str
    ticket_id: str
    occurred_at: datetime
    comment: Comment | None = None
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    actor_id: str | None = None
    source: str = "webhook"
    detail: Mapping[str, Any] = field(default_factory=dict)
    """Event-specific data: for SLA events `metric`, `tier`, `fraction`; for timers the trigger id."""
    snapshot: Mapping[str, Any] | None = None
    """The ticket as the vendor's payload described it at the event, in the vendor's own shape: its
    connector may decide from it instead of reading the ticket back (one API call fewer per event)."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "delivery_id": self.delivery_id,
                "kind": self.kind,
                "ticket_id": self.ticket_id,
                "occurred_at": format_instant(self.occurred_at),
                "comment": asdict(self.comment) if self.comment else None,
                "changes": {key: list(pair) for key, pair in self.changes.items()},
                "actor_id": self.actor_id,
                "source": self.source,
                "detail": dict(self.detail),
                "snapshot": dict(self.snapshot) if self.snapshot is not None else None,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TicketEvent:
        data = json.loads(text)
        occurred_at = parse_instant(data["occurred_at"])
        assert occurred_at is not None
        return cls(
            delivery_id=data["delivery_id"],
            kind=data["kind"],
            ticket_id=data["ticket_id"],
            occurred_at=occurred_at,
            comment=Comment(**data["comment"]) if data.get("comment") else None,
            changes={key: (pair[0], pair[1]) for key, pair in (data.get("changes") or {}).items()},
            actor_id=data.get("actor_id"),
            source=data.get("source", "webhook"),
            detail=data.get("detail") or {},
            snapshot=data.get("snapshot"),
        )
