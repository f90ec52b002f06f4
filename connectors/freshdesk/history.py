"""Freshdesk's ticket history as history lines (DESIGN §9), for `escalator export`.

Source: the ticket list by last update, `GET /api/v2/tickets?updated_since=<ISO>&order_by=updated_at&
order_type=asc&per_page=100&page=N&include=stats,description` (at most 300 pages per query, so a long list
goes on with `updated_since` moved to the newest ticket seen), and each ticket's conversations,
`GET /api/v2/tickets/{id}/conversations` (replies and notes, oldest first). Both spend the tenant's ordinary
request budget (Freshdesk's list has no limit of its own). The checkpoint is the list's position after each
page, so a resumed export starts with the next page; a ticket updated during the export can move in the
list and come twice (a reader replaying the file keys on ticket ids and instants, and `simulate` sorts each
ticket's lines).

What Freshdesk's public API can tell, and so what the lines say, per ticket (written ticket by ticket):

- `ticket.created` at `created_at`, by the requester, with the description as the first public comment;
- one `comment.added` per conversation at its `created_at`: incoming ones (the customer's side) by the
  requester, the others by the agent who wrote them, internal notes as non-public comments;
- the status as a timeline from the ticket's `stats`: a pending ticket went pending at `pending_since`
  (`ticket.updated`), a resolved one was solved at `resolved_at` (`ticket.solved`), a closed one closed at
  `closed_at`. Earlier round trips through pending are not in the API and are not in the file.

Freshdesk keeps no field history in its public API, so group, priority, assignee, tags and type are the
ticket's current values on every line (the status follows the timeline above). Escalator's own replies and
notes (its agent) are left out: `escalator simulate` decides Escalator's writes afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from escalator.connectors.base import HistoryChunk
from escalator.connectors.errors import PermanentError
from escalator.connectors.freshdesk import values
from escalator.connectors.freshdesk.api import CHANNELS, COMPANY_FIELDS, FreshdeskClient, plain_text
from escalator.connectors.freshdesk.listing import updated_tickets
from escalator.rules.model import canonical_instant, parse_instant

LANGUAGE_LOCALES = {"en": "en-US", "es": "es", "fr": "fr", "de": "de", "pt-BR": "pt-BR", "pt-PT": "pt-PT"}
"""Freshdesk language codes that are not already the locale the templates are chosen by."""
TIME_ZONES = {
    "Eastern Time (US & Canada)": "America/New_York",
    "Central Time (US & Canada)": "America/Chicago",
    "Mountain Time (US & Canada)": "America/Denver",
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "London": "Europe/London",
    "Paris": "Europe/Paris",
    "Berlin": "Europe/Berlin",
    "Madrid": "Europe/Madrid",
    "Tokyo": "Asia/Tokyo",
    "Sydney": "Australia/Sydney",
    "UTC": "UTC",
}
"""Freshdesk shows time zones by their Rails names; the history wants IANA names (unknown ones are left out)."""


class FreshdeskHistory:
    """The ticket list and each ticket's conversations as history chunks, one per list page."""

    def __init__(self, client: FreshdeskClient, pace: Callable[[], None] = lambda: None) -> None:
        self.client = client
        self.http = client.http
        self.pace = pace
        """Called before each list call (Freshdesk's list has no limit of its own: a no-op by default)."""

    def chunks(self, *, since: datetime, checkpoint: str | None = None) -> Iterator[HistoryChunk]:
        own = self.client.own_user_id()
        for page in updated_tickets(
            self.http, since=since, checkpoint=checkpoint, include="stats,description", pace=self.pace
        ):
            lines: list[dict[str, Any]] = []
            for ticket in page.tickets:
                if not (ticket.get("deleted") or ticket.get("spam")):
                    lines.extend(self.ticket_lines(ticket, own))
            yield HistoryChunk(lines, page.checkpoint, len(page.tickets), page.newest)

    def ticket_lines(self, ticket: Mapping[str, Any], own: str) -> list[dict[str, Any]]:
        """One ticket's lines, in time order (see the module docstring)."""
        ticket_id = str(ticket["id"])
        created = canonical_instant(ticket.get("created_at"))
        if created is None:
            return []
        requester_id = values.freshdesk_id(ticket.get("requester_id"))
        base = self._ticket(ticket, requester_id)
        timeline = _status_timeline(values.status(ticket.get("status"), self.client.statuses), ticket)
        events: list[tuple[str, int, dict[str, Any]]] = []
        requester = {"id": requester_id, "role": "requester"}
        description = _description(ticket)
        events.append((created, 0, {"kind": "ticket.created", "actor": requester, "comment": _text(description)}))
        for order, item in enumerate(self._conversations(ticket_id), start=1):
            author = values.freshdesk_id(item.get("user_id"))
            at = canonical_instant(item.get("created_at"))
            if at is None or (author is not None and author == own):
                continue
            incoming = bool(item.get("incoming"))
            actor = {"id": author, "role": "requester" if incoming else "agent"}
            body = str(item.get("body_text") or plain_text(str(item.get("body") or "")))
            comment = {"body": body, "public": not item.get("private", False)}
            if item.get("id") is not None:
                comment["id"] = str(item["id"])
            events.append((at, order, {"kind": "comment.added", "actor": actor, "comment": comment}))
        for order, (at, kind, before, after) in enumerate(timeline, start=100_000):
            change = {"kind": kind, "actor": {"id": None, "role": "system"}, "changes": {"status": [before, after]}}
            events.append((at, order, change))
        events.sort(key=lambda item: (_key(parse_instant(item[0])), item[1]))
        lines = []
        for at, _order, event in events:
            snapshot = {**base, "status": _status_at(timeline, at), "updated_at": at}
            line: dict[str, Any] = {"at": at, "kind": event["kind"], "actor": event["actor"], "ticket": snapshot}
            for key in ("comment", "changes"):
                if key in event:
                    line[key] = event[key]
            lines.append(line)
        return lines

    def _conversations(self, ticket_id: str) -> list[dict[str, Any]]:
        try:
            return self.client.conversations(ticket_id)
        except PermanentError as error:
            if error.status == 404:
                return []  # deleted since it was listed
            raise

    def _ticket(self, ticket: Mapping[str, Any], requester_id: str | None) -> dict[str, Any]:
        """The ticket's fields as they are now (all but the status, which follows the timeline)."""
        group = values.freshdesk_id(ticket.get("group_id"))
        company_id = values.freshdesk_id(ticket.get("company_id"))
        contact = self.client.contact(requester_id) if requester_id else {}
        company = self.client.company(company_id) if company_id else {}
        language = contact.get("language")
        return {
            "id": str(ticket["id"]),
            "subject": str(ticket.get("subject") or ""),
            "description": _description(ticket),
            "status": "open",
            "priority": values.priority(ticket.get("priority")),
            "group": (self.client.groups().get(group) or None) if group else None,
            "group_id": group,
            "assignee": values.freshdesk_id(ticket.get("responder_id")),
            "requester": {
                "id": requester_id or "unknown",
                "name": str(contact.get("name") or ""),
                "email": contact.get("email"),
                "locale": LANGUAGE_LOCALES.get(language, language) if isinstance(language, str) else None,
                "time_zone": TIME_ZONES.get(str(contact.get("time_zone"))),
                "tags": [str(tag) for tag in contact.get("tags") or []],
            },
            "organization": {
                "id": company_id,
                "name": str(company.get("name") or ""),
                "tags": [str(tag) for tag in company.get("tags") or []],
                "fields": {
                    **{name: company[name] for name in COMPANY_FIELDS if company.get(name) is not None},
                    **dict(company.get("custom_fields") or {}),
                },
            }
            if company_id and company
            else None,
            "tags": [str(tag) for tag in ticket.get("tags") or []],
            "channel": CHANNELS.get(values.number(ticket.get("source")) or 0),
            "type": ticket.get("type"),
            "custom_fields": dict(ticket.get("custom_fields") or {}),
            "created_at": canonical_instant(ticket.get("created_at")),
        }


def _status_timeline(status: str, ticket: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(at, kind, before, after) for the status changes `stats` dates, oldest first."""
    stats = ticket.get("stats") or {}
    moves: list[tuple[str, str, str, str]] = []
    if status in ("pending", "on_hold"):
        at = canonical_instant(stats.get("pending_since")) or canonical_instant(stats.get("status_updated_at"))
        if at is not None:
            moves.append((at, "ticket.updated", "open", status))
    elif status in ("solved", "closed"):
        resolved = canonical_instant(stats.get("resolved_at"))
        closed = canonical_instant(stats.get("closed_at"))
        if resolved is not None:
            moves.append((resolved, "ticket.solved", "open", "solved"))
        if status == "closed" and closed is not None and closed != resolved:
            moves.append((closed, "ticket.updated", "solved" if resolved else "open", "closed"))
    return moves


def _status_at(timeline: list[tuple[str, str, str, str]], at: str) -> str:
    moment = parse_instant(at)
    status = "open"
    for when, _kind, _before, after in timeline:
        instant = parse_instant(when)
        if instant is not None and moment is not None and instant <= moment:
            status = after
    return status


def _description(ticket: Mapping[str, Any]) -> str:
    text = ticket.get("description_text")
    return str(text) if isinstance(text, str) else plain_text(str(ticket.get("description") or ""))


def _text(body: str) -> dict[str, Any]:
    return {"body": body, "public": True}


def _key(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0
