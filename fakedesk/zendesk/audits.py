"""Ticket audits: the fake records one per save, as Zendesk does, and serves them two ways.

`GET /api/v2/tickets/{id}/audits` lists a ticket's audits (offset or cursor pagination, as Zendesk
documents); the incremental ticket-event export (`export.py`) turns the same audits into `ticket_events`
with `child_events`. Recording them as things happen (rather than deriving them later) keeps both views
consistent with the webhooks, which go out from the same saves.
"""

from __future__ import annotations

import base64
import itertools
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from escalator.fakedesk.base import cursor_page, offset_page, parse_time, query_int
from escalator.fakedesk.zendesk.account import NOT_FOUND

if TYPE_CHECKING:
    from escalator.fakedesk.zendesk.desk import FakeZendesk

CREATE_FIELDS = ("subject", "status", "priority", "type", "problem_id", "group_id", "assignee_id", "requester_id")
"""The properties a `Create` event records on a new ticket (one event each, when set), then its tags."""
VIA_NAMES = {"api": "Web service", "web": "Web form"}
"""How the incremental event export names an audit's channel."""


class AuditLog:
    """Every ticket's audits, oldest first; audit and event ids come from one counter, as in Zendesk."""

    def __init__(self) -> None:
        self.by_ticket: dict[int, list[dict[str, Any]]] = {}
        self._ids = itertools.count(90_000_000)

    def open(
        self, ticket_id: int, author_id: int, channel: str, changes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A new audit; its `created_at` is the ticket's new `updated_at`, which the caller sets. An update's
        `metadata` lands in the audit's `metadata.custom` (a way to mark one's own updates)."""
        metadata = (changes or {}).get("metadata")
        audit: dict[str, Any] = {
            "id": next(self._ids),
            "ticket_id": ticket_id,
            "created_at": "",
            "author_id": author_id,
            "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
            "metadata": {"system": {}, "custom": dict(metadata) if isinstance(metadata, dict) else {}},
            "events": [],
        }
        self.by_ticket.setdefault(ticket_id, []).append(audit)
        return audit

    def created(self, ticket: dict[str, Any], first: dict[str, Any], actor: int, channel: str) -> None:
        """The audit of a new ticket: a `Create` event per property set, then the first comment."""
        audit = self.open(ticket["id"], actor, channel)
        audit["created_at"] = ticket["created_at"]
        for name in (*CREATE_FIELDS, "tags"):
            if ticket.get(name) not in (None, []):
                audit["events"].append(
                    {"id": next(self._ids), "type": "Create", "field_name": name, "value": ticket[name]}
                )
        self.comment(audit, first)

    def change(self, audit: dict[str, Any], field: str, value: Any, previous: Any) -> None:
        event = {"id": next(self._ids), "type": "Change", "field_name": field, "value": value}
        audit["events"].append({**event, "previous_value": previous})

    def comment(self, audit: dict[str, Any], comment: dict[str, Any]) -> None:
        """A `Comment` event carries the comment's own id, as Zendesk's do."""
        keys = ("author_id", "body", "html_body", "plain_body", "public", "created_at")
        event = {"id": comment["id"], "type": "Comment", **{key: comment[key] for key in keys}}
        audit["events"].append({**event, "attachments": [], "audit_id": audit["id"]})

    def followers(self, audit: dict[str, Any], current: list[int], previous: list[int]) -> None:
        event = {"id": next(self._ids), "type": "FollowerChange", "current_followers": current}
        audit["events"].append({**event, "previous_followers": previous})

    def all(self) -> list[dict[str, Any]]:
        """Every audit of every ticket, ordered as the event export lists them: by time, then id."""
        audits = [audit for audits in self.by_ticket.values() for audit in audits]
        return sorted(audits, key=lambda audit: (audit["created_at"], audit["id"]))


def timestamp(audit: dict[str, Any]) -> int:
    return int(parse_time(audit["created_at"]).timestamp())


def ticket_event(audit: dict[str, Any], with_comments: bool) -> dict[str, Any]:
    """An audit as `GET /api/v2/incremental/ticket_events` lists it."""
    via = VIA_NAMES.get(audit["via"]["channel"], "Web form")
    return {
        "id": audit["id"],
        "ticket_id": audit["ticket_id"],
        "timestamp": timestamp(audit),
        "created_at": audit["created_at"],
        "updater_id": audit["author_id"],
        "via": via,
        "system": {},
        "metadata": audit["metadata"],
        "event_type": "Audit",
        "merged_ticket_ids": [],
        "child_events": [child_event(event, via, with_comments) for event in audit["events"]],
    }


def child_event(event: dict[str, Any], via: str, with_comments: bool) -> dict[str, Any]:
    """One audit event as a child event: a changed field appears under its own name, as in Zendesk's export;
    a comment appears whole with `include=comment_events`, else only as `comment_present`/`comment_public`."""
    base = {"id": event["id"], "via": via, "via_reference_id": None, "event_type": event["type"]}
    fields = {key: value for key, value in event.items() if key not in ("id", "type", "field_name", "value")}
    if event["type"] in ("Create", "Change"):
        return {**base, event["field_name"]: event["value"], **fields}
    if event["type"] == "Comment" and not with_comments:
        return {**base, "comment_present": True, "comment_public": event["public"]}
    return {**base, **fields, **({"type": "Comment"} if event["type"] == "Comment" else {})}


def _cursor(audit_id: int) -> str:
    return base64.urlsafe_b64encode(str(audit_id).encode()).decode()


def _uncursor(cursor: str | None) -> str | None:
    try:
        return base64.urlsafe_b64decode((cursor or "").encode()).decode() or None
    except ValueError:
        return None


def add_routes(app: Flask, fake: FakeZendesk) -> None:
    @app.get("/api/v2/tickets/<int:ticket_id>/audits.json")
    @app.get("/api/v2/tickets/<int:ticket_id>/audits")
    def audits(ticket_id: int) -> Response | tuple[Response, int]:
        """A ticket's audits: cursor pagination with `page[size]`/`page[after]`, else offset pagination
        (`page`, `per_page`), at most 100 a page; `sort_order=desc` lists the newest first."""
        if ticket_id not in fake.tickets:
            return jsonify(NOT_FOUND), 404
        with fake._lock:
            items = [dict(audit) for audit in fake.audits.get(ticket_id, [])]
        if request.args.get("sort_order") == "desc":
            items.reverse()
        if any(name.startswith("page[") for name in request.args):
            return _cursor_answer(fake, ticket_id, items)
        page, per_page = query_int("page", 1), query_int("per_page", 100, high=100)
        chunk, more = offset_page(items, page, per_page)
        url = f"{fake.base_url}/api/v2/tickets/{ticket_id}/audits.json?per_page={per_page}&page="
        return jsonify(
            {
                "audits": chunk,
                "next_page": f"{url}{page + 1}" if more else None,
                "previous_page": f"{url}{page - 1}" if page > 1 else None,
                "count": len(items),
            }
        )


def _cursor_answer(fake: FakeZendesk, ticket_id: int, items: list[dict[str, Any]]) -> Response:
    size = query_int("page[size]", 100, high=100)
    keys = [str(audit["id"]) for audit in items]
    chunk, more = cursor_page(keys, _uncursor(request.args.get("page[after]")), size)
    listed = [audit for audit in items if str(audit["id"]) in set(chunk)]
    after = _cursor(int(chunk[-1])) if chunk else None
    url = f"{fake.base_url}/api/v2/tickets/{ticket_id}/audits.json?page[size]={size}&page[after]={after}"
    return jsonify(
        {
            "audits": listed,
            "meta": {
                "has_more": more,
                "after_cursor": after,
                "before_cursor": _cursor(int(chunk[0])) if chunk else None,
            },
            "links": {"next": url if more else None, "prev": None},
        }
    )
