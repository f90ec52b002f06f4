"""Zendesk webhooks in: signature check on the raw bytes, then the payload into a TicketEvent.

Two bodies are understood: event-subscription payloads (`zen:event-type:ticket.*`) and the trigger-webhook
body documented in the README (`{"escalator": {"event": ..., "ticket_id": ...}}`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from escalator.connectors.base import Inbound
from escalator.connectors.errors import WebhookRejected
from escalator.connectors.zendesk import values
from escalator.rules.model import Comment, TicketEvent, parse_instant

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"
MAX_SKEW = timedelta(minutes=5)
"""Signed timestamps older (or further in the future) than this are replays, not deliveries."""
EVENT_PREFIX = "zen:event-type:"


def verify_request(secret: str, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    """HMAC-SHA256(secret, timestamp + raw body), base64, compared in constant time; then the timestamp window."""
    if not secret:
        raise WebhookRejected(401, "no webhook secret is configured for this tenant")
    signature, timestamp = headers.get(SIGNATURE_HEADER.lower()), headers.get(TIMESTAMP_HEADER.lower())
    if not signature or not timestamp:
        raise WebhookRejected(401, "missing Zendesk signature headers")
    expected = base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest())
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(401, "malformed signature") from None
    if not hmac.compare_digest(base64.b64encode(given), expected):
        raise WebhookRejected(401, "signature does not match")
    try:
        signed_at = parse_instant(timestamp)
    except ValueError:
        raise WebhookRejected(401, "malformed signature timestamp") from None
    if signed_at is None or abs(now - signed_at) > MAX_SKEW:
        raise WebhookRejected(401, "stale or future signature timestamp")


def sign(secret: str, body: bytes, timestamp: str) -> str:
    """What Zendesk sends: used by the fake help desk, the demo and the tests."""
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


# --- event-subscription payloads -------------------------------------------------------------------------


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _comment(event: Mapping[str, Any], _detail: Mapping[str, Any]) -> dict[str, Any]:
    comment = _object(event.get("comment"))
    author = _object(comment.get("author"))
    public = comment.get("is_public", comment.get("public", True))
    return {
        "comment": Comment(
            body=str(comment.get("body") or ""),
            public=public if isinstance(public, bool) else str(public).lower() == "true",
            author="agent" if _truthy(author.get("is_staff")) else "requester",
            author_id=values.zendesk_id(author.get("id")),
            id=values.zendesk_id(comment.get("id")),
        )
    }


def _status(event: Mapping[str, Any], _detail: Mapping[str, Any]) -> dict[str, Any]:
    before, after = values.status(event.get("previous")), values.status(event.get("current"))
    if after == "solved" and before != "solved":
        kind = "ticket.solved"
    elif before in ("solved", "closed") and after not in ("solved", "closed"):
        kind = "ticket.reopened"
    else:
        kind = "ticket.updated"
    return {"kind": kind, "changes": {"status": (before, after)}}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _change(field: str, convert: Callable[[Any], Any] = values.zendesk_id) -> Callable[..., dict[str, Any]]:
    """`previous`/`current` are scalars for some events and `{"id": ...}` objects for others (converters cope)."""

    def parse(event: Mapping[str, Any], _detail: Mapping[str, Any]) -> dict[str, Any]:
        return {"changes": {field: (convert(event.get("previous")), convert(event.get("current")))}}

    return parse


def _tags(event: Mapping[str, Any], _detail: Mapping[str, Any]) -> dict[str, Any]:
    return {"changes": {"tags": (event.get("tags_removed") or [], event.get("tags_added") or [])}}


def _plain(event: Mapping[str, Any], _detail: Mapping[str, Any]) -> dict[str, Any]:
    return {}


TICKET_EVENTS: dict[str, tuple[str, Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]]] = {
    "ticket.created": ("ticket.created", _plain),
    "ticket.comment_added": ("comment.added", _comment),
    "ticket.status_changed": ("ticket.updated", _status),
    "ticket.custom_status_changed": ("ticket.updated", _change("custom_status")),
    "ticket.priority_changed": ("ticket.updated", _change("priority", values.priority)),
    "ticket.group_assignment_changed": ("ticket.updated", _change("group")),
    "ticket.agent_assignment_changed": ("ticket.updated", _change("assignee")),
    "ticket.tags_changed": ("ticket.updated", _tags),
    "ticket.organization_changed": ("ticket.updated", _change("organization")),
    "ticket.requester_changed": ("ticket.updated", _change("requester")),
    "ticket.subject_changed": ("ticket.updated", _change("subject", _text)),
    "ticket.description_changed": ("ticket.updated", _change("description", _text)),
    "ticket.custom_field_changed": ("ticket.updated", _plain),
    "ticket.type_changed": ("ticket.updated", _change("type", _text)),
    "ticket.form_changed": ("ticket.updated", _plain),
}
"""Zendesk ticket event type -> (our event kind, parser of its `event` object)."""

IGNORED_TICKET_EVENTS: frozenset[str] = frozenset(
    {
        "ticket.attachment_linked_to_comment",
        "ticket.attachment_redacted_from_comment",
        "ticket.comment_made_private",
        "ticket.comment_redacted",
        "ticket.brand_changed",
        "ticket.external_id_changed",
        "ticket.email_ccs_changed",
        "ticket.followers_changed",
        "ticket.problem_link_changed",
        "ticket.submitter_changed",
        "ticket.task_due_at_changed",
        "ticket.marked_as_spam",
        "ticket.merged",
        "ticket.soft_deleted",
        "ticket.permanently_deleted",
        "ticket.undeleted",
        "ticket.ticket_type_changed",
        "ticket.sla_policy_changed",
    }
)
"""Ticket events that change nothing a rule reads: acknowledged with 200, never queued."""

TRIGGER_BODY_EVENTS = frozenset(
    {"ticket.created", "ticket.updated", "comment.added", "ticket.solved", "ticket.reopened"}
)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def parse_event(body: bytes, headers: Mapping[str, str]) -> Inbound:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookRejected(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "body is not a JSON object; did Zendesk send this?")
    if "escalator" in payload:
        return _parse_trigger_body(payload["escalator"], headers)
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind.startswith(EVENT_PREFIX):
        raise WebhookRejected(400, "not a Zendesk event (no zen:event-type); did Zendesk send this?")
    name = kind.removeprefix(EVENT_PREFIX)
    if not name.startswith("ticket."):
        return Inbound(None, ignored=f"{name} is not a ticket event")
    if name in IGNORED_TICKET_EVENTS:
        return Inbound(None, ignored=f"{name} does not affect escalation")
    if name not in TICKET_EVENTS:
        return Inbound(None, ignored=f"{name} is not a ticket event Escalator knows")
    detail = payload.get("detail")
    event = payload.get("event") or {}
    if not isinstance(detail, dict) or not isinstance(event, dict):
        raise WebhookRejected(400, f"{name} without a detail object")
    # detail.id is the ticket; a payload without it is not one Zendesk sent (no guessing from `subject`).
    ticket_id = values.zendesk_id(detail.get("id")) or ""
    occurred_at = _instant(payload.get("time"))
    event_id = payload.get("id")
    delivery_id = event_id if isinstance(event_id, str) and event_id else headers.get(INVOCATION_HEADER.lower())
    if not values.is_ticket_id(ticket_id) or occurred_at is None or not delivery_id:
        raise WebhookRejected(400, f"{name} without ticket id, time or event id")
    problem = snapshot_problem(detail)
    if problem is not None:
        raise WebhookRejected(400, f"{name}: {problem}")
    our_kind, parse = TICKET_EVENTS[name]
    fields: dict[str, Any] = {"kind": our_kind, **parse(event, detail)}
    return Inbound(
        TicketEvent(
            delivery_id=f"zendesk:{delivery_id}",
            ticket_id=values.canonical_ticket_id(ticket_id),
            occurred_at=occurred_at,
            actor_id=values.zendesk_id(detail.get("actor_id")),
            # The ticket as it stood after this event: enough to decide on without reading it back.
            snapshot=detail if detail.get("updated_at") and detail.get("status") else None,
            **fields,
        )
    )


def _parse_trigger_body(body: Any, headers: Mapping[str, str]) -> Inbound:
    if not isinstance(body, dict):
        raise WebhookRejected(400, "'escalator' must be an object")
    kind, ticket_id = body.get("event"), str(body.get("ticket_id", "")).strip()
    if not isinstance(kind, str) or kind not in TRIGGER_BODY_EVENTS:
        raise WebhookRejected(400, f"'escalator.event' must be one of {', '.join(sorted(TRIGGER_BODY_EVENTS))}")
    if not values.is_ticket_id(ticket_id):
        raise WebhookRejected(400, "'escalator.ticket_id' must be a ticket id (did the placeholder render?)")
    invocation = headers.get(INVOCATION_HEADER.lower())
    occurred_at = _instant(body.get("time")) or _instant(headers.get(TIMESTAMP_HEADER.lower()))
    if not invocation or occurred_at is None:
        raise WebhookRejected(400, "trigger webhook without invocation id or timestamp")
    return Inbound(
        TicketEvent(
            delivery_id=f"zendesk:{invocation}",
            kind=kind,
            ticket_id=values.canonical_ticket_id(ticket_id),
            occurred_at=occurred_at,
            actor_id=values.zendesk_id(body.get("actor_id")),
            # The body carries no comment text: the worker reads the latest comment back from the API.
            detail={"fetch_comment": kind == "comment.added"},
        )
    )


_SNAPSHOT_TEXT = ("subject", "description", "status", "priority", "type", "updated_at", "created_at")
_SNAPSHOT_IDS = ("requester_id", "organization_id", "group_id", "assignee_id", "actor_id")


def snapshot_problem(detail: Mapping[str, Any]) -> str | None:
    """What makes a payload's `detail` unusable as the ticket to decide on, or None. Checked at the door so a
    signed but malformed payload is refused with a reason (400) instead of failing in a worker later."""
    for key in _SNAPSHOT_TEXT:
        if detail.get(key) is not None and not isinstance(detail[key], str):
            return f"detail.{key} must be a string"
    for key in ("created_at", "updated_at"):
        if detail.get(key) is not None and _instant(detail[key]) is None:
            return f"detail.{key} is not an ISO 8601 instant"
    for key in _SNAPSHOT_IDS:
        value = detail.get(key)
        if value is not None and not (isinstance(value, str | int) and not isinstance(value, bool)):
            return f"detail.{key} must be an id"
    tags = detail.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)):
        return "detail.tags must be a list of strings"
    if detail.get("via") is not None and not isinstance(detail["via"], dict):
        return "detail.via must be an object"
    return None


def _instant(value: Any) -> datetime | None:
    try:
        return parse_instant(value) if isinstance(value, str) else None
    except ValueError:
        return None
