"""Zendesk's ticket history as history lines (DESIGN §9), for `escalator export`.

Source: the incremental ticket-event export, `GET /api/v2/incremental/ticket_events.json?start_time=<epoch>
&include=comment_events`: every update of every ticket (an audit) since a time, oldest first, up to 1,000 a
page, 10 calls a minute per account (the caller's `pace` keeps to it, shared with backfill and
reconciliation). It is time-based: a page never splits a second, and the next page starts at the page's
`end_time`, so the updates of that second come again; they are recognised by id, across a resume too (the
checkpoint names them). Each update lists what it did (`child_events`): `Create` and `Change` events carry
the field they set under its own name (`status`, `priority`, `group_id`, `assignee_id`, `tags`, ...) with
`previous_value`; `Comment` events carry the comment (thanks to `include=comment_events`).

Snapshots. A line carries the whole ticket after its update, an update only what changed, so the ticket's
fields are kept per ticket as its updates go by: from its `Create` update when the ticket was created inside
the window, else from its audits up to that update (`GET /api/v2/tickets/{id}/audits.json`, one call per
100 audits, on the tenant's ordinary budget); a field the audits never set is read from the ticket as it is
now. Requesters, organizations and the users who made updates are read once each (`/api/v2/users/{id}`,
`/api/v2/organizations/{id}`); group names come from the group list. At most `TICKETS_KEPT` tickets are
remembered (the least recently updated are forgotten and re-read from their audits if they come back), so
memory stays flat however long the export runs.

Escalator's own updates (its integration user) are left out, and what they changed is not applied to the
snapshots: the file is the help desk's history as people and the help desk's own automations made it, which
is what `escalator simulate` replays a policy against (it decides Escalator's writes afresh).

Actors: end users are `requester`; agents and admins `agent`; updates without a user (Zendesk's `-1`:
triggers, automations) `system`.

One module past the house's ~400 lines on purpose: the page walk, the per-ticket snapshot cache and the line
mapping share the checkpoint and the cache's eviction, and read best together (a tenth of it is this text).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from escalator.connectors.base import HistoryChunk
from escalator.connectors.errors import PermanentError
from escalator.connectors.zendesk import values
from escalator.connectors.zendesk.api import ZendeskClient
from escalator.rules.model import canonical_instant, format_instant, parse_instant

EVENTS_PATH = "/api/v2/incremental/ticket_events.json"
TICKETS_KEPT = 20_000
PEOPLE_KEPT = 50_000
DONE = frozenset({"solved", "closed"})
FIELDS: Mapping[str, str] = {
    "status": "status",
    "priority": "priority",
    "group_id": "group",
    "assignee_id": "assignee",
    "tags": "tags",
    "subject": "subject",
    "type": "type",
    "problem_id": "problem_id",
}
"""Zendesk field -> the history line's field, for the `changes` of a line."""
TRACKED = (*FIELDS, "requester_id", "organization_id")
"""The fields a snapshot is kept from (`description` and `channel` come from the ticket's creation)."""
CHILD_KEYS = frozenset(
    {"id", "via", "via_reference_id", "event_type", "type", "previous_value", "added_tags", "removed_tags",
     "attachments", "audit_id", "created_at", "system", "metadata", "public", "body", "html_body",
     "plain_body", "author_id", "comment_present", "comment_public"}
)  # fmt: skip
"""Keys of a child event that are not the name of the field it sets."""
CHANNELS: Mapping[str, str] = {
    "web form": "web",
    "web_form": "web",
    "web": "web",
    "mail": "email",
    "email": "email",
    "web service": "api",
    "api": "api",
    "chat": "chat",
    "voice": "phone",
    "phone call (incoming)": "phone",
    "mobile": "mobile",
}
"""How updates name their channel (`via`) -> the history's `channel`."""


class _Kept(OrderedDict[str, Any]):
    """A small LRU map: reading or writing a key makes it the newest; the oldest go beyond `size`."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def remember(self, key: str, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value

    def recall(self, key: str) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


def _items(children: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """An update's child events (export) as `{"type", "field", "value", "previous"}` or `{"type": "Comment",
    "comment": {...}}` items."""
    items: list[dict[str, Any]] = []
    for child in children:
        kind = child.get("event_type") or child.get("type")
        if kind == "Comment":
            items.append({"type": "Comment", "comment": child})
        elif kind in ("Create", "Change"):
            for name in (key for key in child if key not in CHILD_KEYS):
                previous = child.get("previous_value")
                items.append({"type": kind, "field": name, "value": child[name], "previous": previous})
    return items


def _audit_items(events: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """An audit's events (`GET .../audits`) in the same shape as `_items`."""
    items: list[dict[str, Any]] = []
    for event in events:
        if event.get("type") == "Comment":
            items.append({"type": "Comment", "comment": event})
        elif event.get("type") in ("Create", "Change") and event.get("field_name"):
            items.append(
                {
                    "type": event["type"],
                    "field": event["field_name"],
                    "value": event.get("value"),
                    "previous": event.get("previous_value"),
                }
            )
    return items


class ZendeskHistory:
    """The ticket-event export as history chunks (one per export page), resumable from the checkpoint."""

    def __init__(
        self, client: ZendeskClient, pace: Callable[[], None] = lambda: None, *, page_size: int | None = None
    ) -> None:
        self.client = client
        self.http = client.http
        self.pace = pace
        self.page_size = page_size
        """Updates per export page (Zendesk's default, 1,000, when None); small pages are for tests."""
        self.tickets = _Kept(TICKETS_KEPT)
        self.people = _Kept(PEOPLE_KEPT)
        self._own: str | None = None

    # --- the export --------------------------------------------------------------------------------------

    def chunks(self, *, since: datetime, checkpoint: str | None = None) -> Iterator[HistoryChunk]:
        if checkpoint:
            saved = json.loads(checkpoint)
            start, seen = int(saved["start_time"]), {str(item) for item in saved.get("seen", [])}
        else:
            start, seen = int(since.timestamp()), set()
        self._own = self.client.own_user_id()
        while True:
            params: dict[str, Any] = {"start_time": start, "include": "comment_events"}
            if self.page_size:
                params["per_page"] = self.page_size
            self.pace()
            page = self.http.request("GET", EVENTS_PATH, params=params)
            updates = [update for update in page.get("ticket_events") or [] if str(update.get("id")) not in seen]
            lines: list[dict[str, Any]] = []
            for update in updates:
                lines.extend(self._update_lines(update))
            end_time = int(page.get("end_time") or start)
            end = bool(page.get("end_of_stream")) or not page.get("ticket_events")
            boundary = {str(u.get("id")) for u in page.get("ticket_events") or [] if _second(u) == end_time}
            seen = boundary | seen if end_time == start else boundary
            if end_time <= start and not end:
                end_time = start + 1  # a page that did not move on: its second is complete, go past it
                seen = set()
            reached = datetime.fromtimestamp(end_time, UTC)
            mark = json.dumps({"start_time": end_time, "seen": sorted(seen)}, separators=(",", ":"))
            yield HistoryChunk(lines, mark, len(updates), reached)
            if end:
                return
            start = end_time

    def _update_lines(self, update: Mapping[str, Any]) -> list[dict[str, Any]]:
        ticket_id = str(update["ticket_id"])
        author = values.zendesk_id(update.get("updater_id"))
        if author == "-1":
            author = None  # Zendesk's own user: triggers, automations
        if author is not None and author == self._own:
            return []
        items = _items(list(update.get("child_events") or []))
        at = _instant(update)
        created = any(item["type"] == "Create" for item in items)
        state = self.tickets.recall(ticket_id)
        if state is None:
            state = {} if created else self._seed(ticket_id, str(update.get("id")), at)
            self.tickets.remember(ticket_id, state)
        via = str(update.get("via") or "")
        changes, comment = self._apply(state, items, via)
        if not state.get("created_at"):
            state["created_at"] = at
        ticket = self._snapshot(ticket_id, state, at)
        actor = self._actor(author)
        return _lines(at, actor, ticket, comment, changes, created, author)

    # --- snapshots ---------------------------------------------------------------------------------------

    def _apply(
        self, state: dict[str, Any], items: list[dict[str, Any]], via: str
    ) -> tuple[dict[str, list[Any]], Mapping[str, Any] | None]:
        """Apply an update's items to the kept fields; (the changes in history terms, the comment or None)."""
        changes: dict[str, list[Any]] = {}
        comment: Mapping[str, Any] | None = None
        for item in items:
            if item["type"] == "Comment":
                comment = item["comment"]
                if "description" not in state:
                    state["description"] = _body(comment)
                continue
            field, value = item["field"], item["value"]
            if item["type"] == "Create" and "channel" not in state:
                state["channel"] = CHANNELS.get(via.strip().lower(), via.strip().lower().replace(" ", "_") or None)
            state[field] = value
            name = FIELDS.get(field)
            if item["type"] == "Change" and name is not None:
                changes[name] = [self._value(field, item["previous"]), self._value(field, value)]
        return changes, comment

    def _value(self, field: str, value: Any) -> Any:
        """A Zendesk field value as the history line's `changes` shows it."""
        if field == "status":
            return values.status(value) if value is not None else None
        if field == "priority":
            return values.priority(value)
        if field == "group_id":
            group = values.zendesk_id(value)
            return self.client.groups().get(group) if group else None
        if field in ("assignee_id", "problem_id"):
            return values.zendesk_id(value)
        if field == "tags":
            return list(value) if isinstance(value, list) else str(value or "").split()
        return value

    def _seed(self, ticket_id: str, update_id: str, at: str) -> dict[str, Any]:
        """The ticket's fields just before `update_id`: its audits replayed up to it (Escalator's own left
        out), with anything they never set read from the ticket as it is now."""
        state: dict[str, Any] = {}
        url: str | None = f"/api/v2/tickets/{ticket_id}/audits.json"
        limit = parse_instant(at)
        assert limit is not None, "instants of updates are canonical"
        try:
            while url:
                page = self.http.request("GET", url)
                for audit in page.get("audits") or []:
                    written = parse_instant(audit.get("created_at"))
                    if str(audit.get("id")) == update_id or (written is not None and written > limit):
                        url = None
                        break
                    if values.zendesk_id(audit.get("author_id")) == self._own:
                        continue
                    self._apply(state, _audit_items(list(audit.get("events") or [])), "")
                    state.setdefault("created_at", audit.get("created_at"))
                else:
                    url = page.get("next_page")
                    if url and not url.startswith(self.http.base_url + "/"):
                        raise PermanentError(f"refusing to follow next_page to another host: {url}")
        except PermanentError as error:
            if error.status != 404:
                raise
        if any(field not in state for field in ("status", "requester_id", "created_at")):
            self._fill_from_ticket(ticket_id, state)
        return state

    def _fill_from_ticket(self, ticket_id: str, state: dict[str, Any]) -> None:
        try:
            ticket = self.http.request("GET", f"/api/v2/tickets/{ticket_id}.json")["ticket"]
        except PermanentError as error:
            if error.status != 404:
                raise
            return  # deleted since: the lines show what the updates said
        for field in (*TRACKED, "created_at"):
            state.setdefault(field, ticket.get(field))
        state.setdefault("description", ticket.get("description") or "")
        state.setdefault("channel", (ticket.get("via") or {}).get("channel"))

    def _snapshot(self, ticket_id: str, state: Mapping[str, Any], at: str) -> dict[str, Any]:
        group = values.zendesk_id(state.get("group_id"))
        requester_id = values.zendesk_id(state.get("requester_id"))
        requester = self._user(requester_id) if requester_id else {}
        organization_id = values.zendesk_id(state.get("organization_id")) or values.zendesk_id(
            requester.get("organization_id")
        )
        return {
            "id": ticket_id,
            "subject": str(state.get("subject") or ""),
            "description": str(state.get("description") or ""),
            "status": values.status(state.get("status") or "open"),
            "priority": values.priority(state.get("priority")),
            "group": (self.client.groups().get(group) or None) if group else None,
            "group_id": group,
            "assignee": values.zendesk_id(state.get("assignee_id")),
            "requester": _person(requester_id or "unknown", requester),
            "organization": self._organization(organization_id) if organization_id else None,
            "tags": list(self._value("tags", state.get("tags") or [])),
            "channel": state.get("channel"),
            "type": state.get("type"),
            "problem_id": values.zendesk_id(state.get("problem_id")),
            "created_at": canonical_instant(state.get("created_at")) or at,
            "updated_at": at,
        }

    # --- people ------------------------------------------------------------------------------------------

    def _user(self, user_id: str) -> Mapping[str, Any]:
        found = self.people.recall(f"users/{user_id}")
        if found is None:
            try:
                found = dict(self.http.request("GET", f"/api/v2/users/{user_id}.json").get("user") or {})
            except PermanentError as error:
                if error.status != 404:
                    raise
                found = {}  # deleted since
            self.people.remember(f"users/{user_id}", found)
        return found  # type: ignore[no-any-return]

    def _organization(self, organization_id: str) -> dict[str, Any] | None:
        found = self.people.recall(f"organizations/{organization_id}")
        if found is None:
            try:
                answer = self.http.request("GET", f"/api/v2/organizations/{organization_id}.json")
                found = dict(answer.get("organization") or {})
            except PermanentError as error:
                if error.status != 404:
                    raise
                found = {}
            self.people.remember(f"organizations/{organization_id}", found)
        if not found:
            return None
        return {
            "id": organization_id,
            "name": str(found.get("name") or ""),
            "tags": [str(tag) for tag in found.get("tags") or []],
            "fields": dict(found.get("organization_fields") or {}),
        }

    def _actor(self, author: str | None) -> dict[str, Any]:
        if author is None:
            return {"id": None, "role": "system"}
        user = self._user(author)
        role = "requester" if user.get("role", "end-user") == "end-user" else "agent"
        return {"id": author, "role": role, "name": user.get("name")}


def _lines(
    at: str,
    actor: dict[str, Any],
    ticket: dict[str, Any],
    comment: Mapping[str, Any] | None,
    changes: dict[str, list[Any]],
    created: bool,
    author: str | None,
) -> list[dict[str, Any]]:
    """One update as lines: a creation; or a comment, then what the update changed (a solve, a reopening
    or other fields), each line showing the ticket after the whole update."""
    text = _comment(comment, author) if comment is not None else None
    if created:
        line = {"at": at, "kind": "ticket.created", "actor": actor, "ticket": ticket}
        if text is not None:
            line["comment"] = text
        return [line]
    lines: list[dict[str, Any]] = []
    if text is not None:
        lines.append({"at": at, "kind": "comment.added", "actor": actor, "ticket": ticket, "comment": text})
    if changes:
        before, after = changes.get("status", [None, None])
        kind = "ticket.updated"
        if after == "solved" and before != "solved":
            kind = "ticket.solved"
        elif before in DONE and after not in DONE and after is not None:
            kind = "ticket.reopened"
        lines.append({"at": at, "kind": kind, "actor": actor, "ticket": ticket, "changes": changes})
    return lines


def _comment(comment: Mapping[str, Any], author: str | None) -> dict[str, Any]:
    text: dict[str, Any] = {"body": _body(comment), "public": bool(comment.get("public", True))}
    writer = values.zendesk_id(comment.get("author_id"))
    if writer is not None and writer != author:
        text["author_id"] = writer
    if comment.get("id") is not None:
        text["id"] = str(comment["id"])
    return text


def _body(comment: Mapping[str, Any]) -> str:
    return str(comment.get("plain_body") or comment.get("body") or "")


def _person(user_id: str, user: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": str(user.get("name") or ""),
        "email": user.get("email"),
        "locale": user.get("locale"),
        "time_zone": user.get("iana_time_zone"),
        "tags": [str(tag) for tag in user.get("tags") or []],
    }


def _second(update: Mapping[str, Any]) -> int | None:
    stamp = update.get("timestamp")
    if isinstance(stamp, int):
        return stamp
    instant = parse_instant(update.get("created_at"))
    return int(instant.timestamp()) if instant else None


def _instant(update: Mapping[str, Any]) -> str:
    instant = parse_instant(update.get("created_at"))
    if instant is None:
        instant = datetime.fromtimestamp(int(update.get("timestamp") or 0), UTC)
    return format_instant(instant)
