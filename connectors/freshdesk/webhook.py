"""Freshdesk webhooks in: the shared secret, then the automation rule's body into a TicketEvent.

Freshdesk has no webhook API and signs nothing: events leave through an automation rule's "Trigger Webhook"
action, whose body the admin pastes. The body Escalator documents (README snippet; `DOCUMENTED_BODY`):

    {"freshdesk_webhook": {
        "ticket_id": "{{ticket.id}}",
        "triggered_event": "{{triggered_event}}",
        "updated_at": "{{ticket.modified_on}}",
        "actor_id": "{{event_performer.id}}"
    }}

Only `ticket_id` and `triggered_event` are required. Optional fields, all strings as Freshdesk renders them:

- `updated_at` (alias `triggered_at`): the ticket's last-modified time when the rule ran; notes and replies
  move it too. Strongly recommended: it is what lets a retry be told apart from a new event (see
  `delivery_id`), and it becomes the event time. Any rendering is accepted (ISO 8601, `2026-03-09 10:15:42
  UTC`, `2026-03-09 15:45:42 +0530`, RFC 2822, epoch seconds).
- `actor_id`: who caused the event. `{{event_performer.id}}` is in the Liquid context of Freshdesk's webhook
  renderer (its `Va::Webhook` code) though not in the placeholder picker. Where it renders, an echo of our
  own field change is recognised at once; where it renders empty (or not at all), nothing breaks: notes and
  replies are still recognised by their author, read back from the API (see `Meaning.fetch_comment`).
- `ticket_status`, `ticket_priority`, `ticket_latest_public_comment`, ...: accepted and ignored (they count
  only towards the delivery id). They render display names ("Pending", "Medium") and a snapshot that may be
  stale, so the worker always re-reads the ticket (and, for notes and replies, the latest conversation).

`{{triggered_event}}` renders a non-JSON syntax: `{ticket_action:created}`, `{status:{from:4,to:6}}`,
`{priority:{from:3,to:1}}`, `{note_type:private}`, `{reply_sent:sent}`, `{responder_id:{from:1,to:2}}`,
`{group_id:{from:null,to:5}}`, `{ticket_type:{from:Question,to:Incident}}`, `{cf_tier:{from:a,to:b}}`.
`decode_triggered_event` reads it (and the JSON form `{"status": {"from": 4, "to": 6}}` as well).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from escalator.connectors.base import Inbound
from escalator.connectors.errors import WebhookRejected
from escalator.connectors.freshdesk import values
from escalator.rules.model import TicketEvent

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Escalator-Secret"
ROOT = "freshdesk_webhook"
MOMENT_FIELDS = ("updated_at", "triggered_at")
"""Body fields naming when the event happened; the first present one is used."""
DOCUMENTED_BODY: dict[str, dict[str, str]] = {
    ROOT: {
        "ticket_id": "{{ticket.id}}",
        "triggered_event": "{{triggered_event}}",
        "updated_at": "{{ticket.modified_on}}",
        "actor_id": "{{event_performer.id}}",
    }
}
"""The body admins paste into the rule's "Trigger Webhook" action (Encoding JSON, Content: Advanced)."""


# --- who sent it -------------------------------------------------------------------------------------------


def verify_request(secret: str, headers: Mapping[str, str]) -> None:
    """The tenant's secret as `X-Escalator-Secret`, or as Basic auth: the password (any user name), or the
    user name with password `X` (what Freshdesk's "API key" option sends). Compared in constant time."""
    if not secret:
        raise WebhookRejected(401, "no webhook secret is configured for this tenant")
    presented = _presented_secrets(headers)
    if not presented:
        raise WebhookRejected(401, f"missing {SECRET_HEADER} header or Basic auth")
    expected = secret.encode()
    # Every candidate is compared (no short cut), so timing says nothing about which one was close.
    matches = [hmac.compare_digest(candidate, expected) for candidate in presented]
    if not any(matches):
        raise WebhookRejected(401, "webhook secret does not match")


def _presented_secrets(headers: Mapping[str, str]) -> list[bytes]:
    presented: list[bytes] = []
    header = headers.get(SECRET_HEADER.lower())
    if header:
        presented.append(header.encode())
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "basic" and credentials.strip():
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise WebhookRejected(401, "malformed Basic auth") from None
        user, colon, password = decoded.partition(b":")
        if not colon:
            raise WebhookRejected(401, "malformed Basic auth")
        presented.append(password)
        if password == b"X":
            presented.append(user)
    return presented


# --- the {{triggered_event}} mini-syntax -------------------------------------------------------------------


@dataclass(frozen=True)
class TriggeredEvent:
    """`{name:value}` (value set) or `{name:{from:a,to:b}}` (change set); values as rendered text."""

    name: str
    value: str | None = None
    change: tuple[str | None, str | None] | None = None


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHANGE = re.compile(r'^\s*"?from"?\s*:(?P<before>.*),\s*"?to"?\s*:(?P<after>.*)$', re.DOTALL)
_NONE = frozenset({"", "null", "nil", "none"})


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return None if text.lower() in _NONE else text


def decode_triggered_event(text: str) -> TriggeredEvent:
    """Raise ValueError for anything that is not Freshdesk's syntax (or its JSON equivalent)."""
    raw = text.strip()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if len(data) != 1:
            raise ValueError("expected exactly one event")
        ((name, value),) = data.items()
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"not an event name: {name!r}")
        if isinstance(value, dict):
            return TriggeredEvent(name, change=(_scalar(value.get("from")), _scalar(value.get("to"))))
        return TriggeredEvent(name, value=_scalar(value))
    if not (raw.startswith("{") and raw.endswith("}")):
        raise ValueError("expected {name:value}")
    name, colon, rest = raw[1:-1].partition(":")
    name = name.strip().strip('"')
    if not colon or not _NAME.match(name):
        raise ValueError("expected {name:value}")
    rest = rest.strip()
    if rest.startswith("{") and rest.endswith("}"):
        change = _CHANGE.match(rest[1:-1])
        if change is None:
            raise ValueError("expected {from:...,to:...}")
        return TriggeredEvent(name, change=(_scalar(change["before"]), _scalar(change["after"])))
    return TriggeredEvent(name, value=_scalar(rest))


# --- what each event means ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meaning:
    kind: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    fetch_comment: bool = False
    """The body carries no trustworthy comment: the worker reads the latest conversation (and its author)."""


STATUS_NAMES = {"open": 2, "pending": 3, "resolved": 4, "closed": 5}
"""Built-in status names, in case an account renders names where ids are expected."""


def _status_id(value: str | None) -> int | None:
    code = values.number(value)
    return code if code is not None else STATUS_NAMES.get((value or "").strip().lower())


def _status(event: TriggeredEvent) -> Meaning:
    before, after = event.change or (None, None)
    old, new = _status_id(before), _status_id(after)
    if new in values.SOLVED_IDS and old not in values.SOLVED_IDS:
        kind = "ticket.solved"
    elif old in values.SOLVED_IDS and new is not None and new not in values.SOLVED_IDS:
        kind = "ticket.reopened"
    else:
        kind = "ticket.updated"
    # The receiver has no tenant settings, so a custom status (6+) is None here rather than a guess; the
    # worker re-reads the ticket, whose `status` is mapped through the tenant's `freshdesk.statuses`.
    before_common, after_common = (values.BUILT_IN_STATUSES.get(code) if code else None for code in (old, new))
    return Meaning(kind, {"status": (before_common, after_common)})


def _changed(key: str, convert: Callable[[str | None], Any]) -> Callable[[TriggeredEvent], Meaning]:
    def parse(event: TriggeredEvent) -> Meaning:
        before, after = event.change or (None, event.value)
        return Meaning("ticket.updated", {key: (convert(before), convert(after))})

    return parse


def _comment(_event: TriggeredEvent) -> Meaning:
    return Meaning("comment.added", fetch_comment=True)


def _updated(_event: TriggeredEvent) -> Meaning:
    return Meaning("ticket.updated")


TICKET_ACTIONS: dict[str, str] = {"created": "ticket.created", "update": "ticket.updated", "updated": "ticket.updated"}
IGNORED_TICKET_ACTIONS = frozenset({"delete", "deleted", "marked_spam", "marked_as_spam", "spam"})


def _ticket_action(event: TriggeredEvent) -> Meaning | None:
    action = (event.value or "").lower()
    if action in IGNORED_TICKET_ACTIONS:
        return None
    return Meaning(TICKET_ACTIONS.get(action, "ticket.updated"))


TRIGGERED_EVENTS: dict[str, Callable[[TriggeredEvent], Meaning | None]] = {
    "ticket_action": _ticket_action,
    "status": _status,
    "priority": _changed("priority", values.priority),
    "group_id": _changed("group", values.freshdesk_id),
    "responder_id": _changed("assignee", values.freshdesk_id),
    "ticket_type": _changed("type", _scalar),
    "note_type": _comment,
    "reply_sent": _comment,
    "due_by": _updated,
}
"""Freshdesk event name -> its meaning (None: known, ignored). Notes and replies, by agents or customers,
are comments; `{reply_sent:sent}` is also what a customer's reply fires."""

IGNORED_EVENTS: frozenset[str] = frozenset(
    {"time_sheet_action", "customer_feedback", "mail_del_failed_requester", "mail_del_failed_others"}
)
"""Events that change nothing a rule reads: acknowledged with 200, never queued."""


def meaning_of(event: TriggeredEvent) -> Meaning | None:
    """Unknown-but-plausible events (custom fields `cf_*`, events Freshdesk adds later) are updates."""
    if event.name in IGNORED_EVENTS:
        return None
    parse = TRIGGERED_EVENTS.get(event.name)
    if parse is not None:
        return parse(event)
    if event.change is not None:
        return Meaning("ticket.updated", {event.name: event.change})
    return Meaning("ticket.updated")


# --- the body ------------------------------------------------------------------------------------------------


def delivery_id(ticket_id: str, body: Mapping[str, Any]) -> str:
    """A stable id for a delivery that carries none: `freshdesk:<ticket>:<sha256 of the whole body>`.

    Freshdesk re-sends a failed delivery (+5, +30, +60 min) with the body it rendered the first time, so a
    hash of the body (keys sorted, so formatting cannot matter) is the same for every retry. Distinct events
    must differ somewhere in the body: the event name, and `updated_at`, which moves with every change
    Freshdesk makes to a ticket, notes and replies included. Without a moment field two events of the same
    kind on the same ticket (a customer's second reply) would render identical bodies and the second would be
    dropped as a repeat for the whole dedupe window; so such a delivery gets a unique id instead. A retry is
    then processed twice (rare: only when our 2xx did not reach Freshdesk in time): the rules never escalate
    a ticket twice, though a rule that only replies could reply again; a lost customer reply, on the other
    hand, could never be recovered.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    if not any(_scalar(body.get(name)) for name in MOMENT_FIELDS):
        canonical += "\n" + uuid.uuid4().hex
    return f"freshdesk:{ticket_id}:{hashlib.sha256(canonical.encode()).hexdigest()[:40]}"


_WALL_CLOCK = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
    r"\s*(?P<zone>Z|UTC|GMT|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def parse_moment(value: Any) -> datetime | None:
    """A rendered time in whatever form the account renders it; None when unreadable (never a crash)."""
    text = _scalar(value)
    if not text:
        return None
    if text.isascii() and text.isdigit():
        seconds = int(text)
        try:
            return datetime.fromtimestamp(seconds / 1000 if seconds > 10**11 else seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    match = _WALL_CLOCK.match(text)
    if match:
        zone = (match["zone"] or "Z").upper()
        zone = "+00:00" if zone in ("Z", "UTC", "GMT") else f"{zone[:3]}:{zone[-2:]}"
        try:
            return datetime.fromisoformat(f"{match['date']}T{match['time']}{zone}").astimezone(UTC)
        except ValueError:
            return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def parse_event(body: bytes, now: datetime | None = None) -> Inbound:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookRejected(400, "body is not JSON") from None
    hook = payload.get(ROOT) if isinstance(payload, dict) else None
    if not isinstance(hook, dict):
        raise WebhookRejected(400, f"no '{ROOT}' object; did Freshdesk send this?")
    ticket_id = _scalar(hook.get("ticket_id")) or ""
    if not values.is_ticket_id(ticket_id):
        raise WebhookRejected(400, f"'{ROOT}.ticket_id' must be a ticket id (did the placeholder render?)")
    ticket_id = str(int(ticket_id))  # "0042" and "42" are one ticket, with one inbox
    if "triggered_event" not in hook:
        raise WebhookRejected(400, f"'{ROOT}.triggered_event' is missing; paste the documented body")
    raw_event = str(hook.get("triggered_event") or "").strip()
    if raw_event:
        try:
            meaning = meaning_of(decode_triggered_event(raw_event))
        except ValueError as error:
            raise WebhookRejected(400, f"'{ROOT}.triggered_event' is not Freshdesk's syntax: {error}") from None
    else:
        # Rules without an event (hourly time triggers) render it empty: something changed, read it back.
        meaning = Meaning("ticket.updated")
    if meaning is None:
        return Inbound(None, ignored=f"{raw_event} does not affect escalation")
    moment_text = next((hook[name] for name in MOMENT_FIELDS if _scalar(hook.get(name))), None)
    moment = parse_moment(moment_text)
    if moment_text is None:
        log.info("freshdesk webhook for ticket %s has no updated_at: retries cannot be recognised", ticket_id)
    return Inbound(
        TicketEvent(
            delivery_id=delivery_id(ticket_id, hook),
            kind=meaning.kind,
            ticket_id=ticket_id,
            occurred_at=moment or now or datetime.now(UTC),
            changes=meaning.changes,
            actor_id=values.freshdesk_id(hook.get("actor_id")),
            # The body carries no comment to trust: the worker reads the latest conversation back.
            detail={"triggered_event": raw_event, **({"fetch_comment": True} if meaning.fetch_comment else {})},
        )
    )
