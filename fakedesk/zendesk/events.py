"""Zendesk's event-subscription webhooks as the fake sends them: which saves announce what, in which shape.

Payloads follow Zendesk's: `type` `zen:event-type:<name>`, `subject` `zen:ticket:<id>`, a `detail` with ids as
strings and enums in upper case, and the event's own `event`; headers carry the HMAC-SHA256 signature of
timestamp + raw body (`X-Zendesk-Webhook-Signature`), as the receiver verifies it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from escalator.connectors.zendesk.webhook import INVOCATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from escalator.fakedesk.base import iso, parse_time


def _upper(value: Any) -> str:
    return str(value).upper()


FIELD_EVENTS: tuple[tuple[str, str | None, Callable[[Any], str]], ...] = (
    ("group_id", "ticket.group_assignment_changed", str),
    ("priority", "ticket.priority_changed", _upper),
    ("assignee_id", "ticket.agent_assignment_changed", str),
    ("status", "ticket.status_changed", _upper),
    ("type", None, _upper),
    ("problem_id", None, str),
)
"""Fields an update sets, in the order their events go out: (field, event type or None, how `event` shows a
value). Type and problem link are audited but send no event Escalator subscribes to."""


def event_time(now: datetime, updated_at: str) -> datetime:
    """An event happens within the second of the ticket's new `updated_at` (which has whole seconds), as on
    one clock: when `_bump` moved `updated_at` past `now`, the event time moves with it (keeping its fraction)."""
    updated = parse_time(updated_at)
    return now if now >= updated else updated.replace(microsecond=now.microsecond)


def payload(name: str, ticket: dict[str, Any], event: dict[str, Any], actor: int, at: datetime) -> dict[str, Any]:
    """An event-subscription payload as Zendesk sends it: ids as strings, enums in upper case."""
    return {
        "type": f"zen:event-type:{name}",
        "account_id": 12514403,
        "id": str(uuid.uuid4()),
        # Event times carry sub-second precision (Zendesk sends up to nanoseconds), unlike updated_at.
        "time": at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket['id']}",
        "detail": {
            "actor_id": str(actor),
            "assignee_id": str(ticket["assignee_id"] or "") or None,
            "brand_id": "1",
            "created_at": ticket["created_at"],
            "description": ticket["description"],
            "group_id": str(ticket["group_id"]) if ticket["group_id"] else None,
            "id": str(ticket["id"]),
            "is_public": True,
            "organization_id": str(ticket["organization_id"] or "") or None,
            "priority": (ticket["priority"] or "").upper() or None,
            "requester_id": str(ticket["requester_id"]),
            "status": ticket["status"].upper(),
            "subject": ticket["subject"],
            "submitter_id": str(ticket["submitter_id"]),
            "tags": ticket["tags"],
            "type": (ticket["type"] or "").upper() or None,
            "updated_at": ticket["updated_at"],
            "via": {"channel": "web_form"},
        },
        "event": event,
    }


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    """The headers of a delivery: JSON, the signature over timestamp + body, an invocation id."""
    timestamp = iso(datetime.now(UTC))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, body, timestamp),
        INVOCATION_HEADER: str(uuid.uuid4()),
    }
