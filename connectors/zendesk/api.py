"""Zendesk REST API: read tickets back, resolve group names, and write a plan in as few PUTs as allowed.

Zendesk takes one comment per ticket update, so a plan with fields, a reply and a note costs two PUTs:
fields + the first comment, then the next comment. Every PUT carries `safe_update` + `updated_stamp`, so a
ticket that changed underneath answers 409 and the worker re-reads and re-decides.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from escalator.connectors.base import CommentLedger
from escalator.connectors.comments import unsent_comments
from escalator.connectors.errors import PermanentError
from escalator.connectors.groups import resolve_group
from escalator.connectors.http import VendorHttp
from escalator.connectors.timezones import iana_zone
from escalator.connectors.zendesk import values
from escalator.rules.model import Comment, Organization, Person, Ticket, TicketEvent, format_instant, parse_instant
from escalator.rules.plan import Plan, PlannedComment

GROUP_CACHE_SECONDS = 300.0
"""Group names rarely change; five minutes keeps lookups off the rate limit without going stale for long."""
PEOPLE_CACHE_SECONDS = 300.0
"""Requesters and organizations (names, tags, fields) change rarely; a tag change shows within five minutes."""
PEOPLE_CACHE_SIZE = 20_000


def auth_headers(auth: Mapping[str, str]) -> dict[str, str]:
    """API token (`email/token:TOKEN`, retired by Zendesk on 2027-04-30) or an OAuth access token (with a
    refresh token configured, `connectors.zendesk.oauth` sends and renews it instead)."""
    if auth.get("oauth_token"):
        return {"Authorization": f"Bearer {auth['oauth_token']}"}
    if auth.get("email") and auth.get("api_token"):
        credentials = f"{auth['email']}/token:{auth['api_token']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
    raise ValueError("Zendesk auth needs {email, api_token} or {oauth_token}")


def _person(user: Mapping[str, Any]) -> Person:
    return Person(
        id=values.zendesk_id(user.get("id")),
        name=user.get("name") or "",
        email=user.get("email"),
        locale=user.get("locale"),
        tags=tuple(user.get("tags") or ()),
        # `iana_time_zone` ("America/New_York") where Zendesk sends it, else `time_zone` (a Rails name).
        time_zone=iana_zone(user.get("iana_time_zone")) or iana_zone(user.get("time_zone")),
    )


def _organization(organization: Mapping[str, Any]) -> Organization:
    return Organization(
        id=str(organization["id"]),
        name=organization.get("name") or "",
        tags=tuple(organization.get("tags") or ()),
        fields=dict(organization.get("organization_fields") or {}),
    )


SHOW_MANY = 100
"""Tickets per `show_many` call (Zendesk's limit)."""


def _by_id(records: Any) -> dict[str, Any]:
    return {str(record["id"]): record for record in records or []}


class ZendeskClient:
    def __init__(self, http: VendorHttp) -> None:
        self.http = http
        self._own_id: str | None = None
        self._groups: dict[str, str] = {}  # id -> name
        self._groups_at = 0.0
        self._people: dict[str, tuple[float, dict[str, Any]]] = {}  # "users/1" -> (read at, record)

    # --- reads -----------------------------------------------------------------------------------------

    def own_user_id(self) -> str:
        if self._own_id is None:
            self._own_id = str(self.http.request("GET", "/api/v2/users/me.json")["user"]["id"])
        return self._own_id

    def groups(self, refresh: bool = False) -> dict[str, str]:
        """Group id -> name, cached; follows `next_page` links."""
        if refresh or not self._groups or time.monotonic() - self._groups_at > GROUP_CACHE_SECONDS:
            groups: dict[str, str] = {}
            url: str | None = "/api/v2/groups.json"
            while url:
                page = self.http.request("GET", url)
                groups.update({str(group["id"]): str(group["name"]) for group in page.get("groups", [])})
                url = page.get("next_page")
                if url and not url.startswith(self.http.base_url + "/"):
                    # Never send our credentials to another host, whatever a response says.
                    raise PermanentError(f"refusing to follow next_page to another host: {url}")
            self._groups, self._groups_at = groups, time.monotonic()
        return self._groups

    def group_id(self, group: str | int) -> str:
        """A tier's group, named or by id, as a Zendesk group id; unknown names are a clear error."""
        return resolve_group(group, self.groups, "Zendesk")

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        body = self.http.request("GET", f"/api/v2/tickets/{ticket_id}.json", params={"include": "users,organizations"})
        return self._ticket(body["ticket"], _by_id(body.get("users")), _by_id(body.get("organizations")))

    def fetch_tickets(self, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        """`show_many`, SHOW_MANY ids a call, with the requesters and organizations sideloaded."""
        found: dict[str, Ticket] = {}
        for start in range(0, len(ticket_ids), SHOW_MANY):
            ids = ",".join(ticket_ids[start : start + SHOW_MANY])
            params = {"ids": ids, "include": "users,organizations"}
            body = self.http.request("GET", "/api/v2/tickets/show_many.json", params=params)
            users, organizations = _by_id(body.get("users")), _by_id(body.get("organizations"))
            for raw in body.get("tickets", []):
                found[str(raw["id"])] = self._ticket(raw, users, organizations)
        return found

    def _ticket(self, raw: Mapping[str, Any], users: Mapping[str, Any], organizations: Mapping[str, Any]) -> Ticket:
        requester = users.get(str(raw.get("requester_id")), {})
        organization = organizations.get(str(raw.get("organization_id")))
        group_id = values.zendesk_id(raw.get("group_id"))
        return Ticket(
            id=str(raw["id"]),
            subject=raw.get("subject") or "",
            description=raw.get("description") or "",
            status=values.status(raw.get("status")),
            priority=values.priority(raw.get("priority")),
            group_id=group_id,
            group_name=self.groups().get(group_id) if group_id else None,
            assignee_id=values.zendesk_id(raw.get("assignee_id")),
            requester=_person(requester),
            organization=_organization(organization) if organization else None,
            tags=tuple(raw.get("tags") or ()),
            channel=(raw.get("via") or {}).get("channel"),
            custom_fields={str(item["id"]): item.get("value") for item in raw.get("custom_fields") or []},
            created_at=parse_instant(raw.get("created_at")),
            updated_at=parse_instant(raw.get("updated_at")),
            version=raw.get("updated_at"),
            followers=tuple(str(user_id) for user_id in raw.get("follower_ids") or ()),
        )

    def ticket_for(
        self, ticket_id: str, events: Sequence[TicketEvent], *, fields: Collection[str], read_back: bool
    ) -> Ticket:
        """From the newest event's `detail` when every event carries one (event-subscription webhooks do),
        with the requester and organization from a short-lived cache; otherwise read the ticket back.
        A snapshot that is already stale is harmless: the write's `safe_update` answers 409, and the
        worker then reads the ticket and decides again."""
        snapshots = [event for event in events if event.snapshot is not None]
        custom = any(name.startswith("custom_fields.") for name in fields)  # not in an event's detail
        if read_back or custom or not snapshots or len(snapshots) != len(events):
            return self.fetch_ticket(ticket_id)
        newest = max(snapshots, key=lambda event: event.occurred_at).snapshot
        assert newest is not None
        return self._from_detail(ticket_id, newest)

    def _from_detail(self, ticket_id: str, detail: Mapping[str, Any]) -> Ticket:
        group_id = values.zendesk_id(detail.get("group_id"))
        requester_id = values.zendesk_id(detail.get("requester_id"))
        organization_id = values.zendesk_id(detail.get("organization_id"))
        requester = self._cached("users", requester_id) if requester_id else {}
        organization = self._cached("organizations", organization_id) if organization_id else None
        return Ticket(
            id=ticket_id,
            subject=str(detail.get("subject") or ""),
            description=str(detail.get("description") or ""),
            status=values.status(detail.get("status")),
            priority=values.priority(detail.get("priority")),
            group_id=group_id,
            group_name=self.groups().get(group_id) if group_id else None,
            assignee_id=values.zendesk_id(detail.get("assignee_id")),
            requester=_person(requester),
            organization=_organization(organization) if organization else None,
            tags=tuple(detail.get("tags") or ()),
            channel=(detail.get("via") or {}).get("channel"),
            created_at=parse_instant(detail.get("created_at")),
            updated_at=parse_instant(detail.get("updated_at")),
            version=detail.get("updated_at"),
            followers=tuple(str(user_id) for user_id in detail.get("follower_ids") or ()),
        )

    def _cached(self, kind: str, record_id: str) -> dict[str, Any]:
        """A user or organization, read at most every PEOPLE_CACHE_SECONDS per worker process."""
        key = f"{kind}/{record_id}"
        hit = self._people.get(key)
        if hit is not None and time.monotonic() - hit[0] < PEOPLE_CACHE_SECONDS:
            return hit[1]
        if len(self._people) >= PEOPLE_CACHE_SIZE:
            self._people.clear()
        record = dict(self.http.request("GET", f"/api/v2/{key}.json")[kind.removesuffix("s")])
        self._people[key] = (time.monotonic(), record)
        return record

    def recent_comments(self, ticket_id: str, count: int = 10) -> list[dict[str, Any]]:
        page = self.http.request(
            "GET", f"/api/v2/tickets/{ticket_id}/comments.json", params={"sort_order": "desc", "per_page": count}
        )
        return list(page.get("comments", []))

    def latest_comment(self, ticket_id: str) -> Comment | None:
        page = self.http.request(
            "GET",
            f"/api/v2/tickets/{ticket_id}/comments.json",
            params={"sort_order": "desc", "per_page": 1, "include": "users"},
        )
        if not page.get("comments"):
            return None
        latest = page["comments"][0]
        author = str(latest.get("author_id"))
        roles = {str(user["id"]): user.get("role") for user in page.get("users", [])}
        return Comment(
            body=latest.get("plain_body") or latest.get("body") or "",
            public=bool(latest.get("public")),
            author="requester" if roles.get(author, "end-user") == "end-user" else "agent",
            author_id=author,
            id=str(latest.get("id")),
        )

    # --- writes ----------------------------------------------------------------------------------------

    def field_changes(self, ticket: Ticket, plan: Plan) -> dict[str, Any]:
        """Only what differs from the ticket as it is now: re-running a plan after a 409 is harmless."""
        fields: dict[str, Any] = {}
        if plan.unit is not None:
            group_id = self.group_id(plan.unit.group)
            if group_id != ticket.group_id:
                fields["group_id"] = int(group_id)
        if plan.priority and plan.priority != ticket.priority:
            fields["priority"] = plan.priority
        if plan.assignee and plan.assignee != ticket.assignee_id:
            key = "assignee_email" if "@" in plan.assignee else "assignee_id"
            fields[key] = plan.assignee if key == "assignee_email" else int(plan.assignee)
        added = [tag for tag in plan.add_tags if tag not in ticket.tags]
        removed = [tag for tag in plan.remove_tags if tag in ticket.tags]
        if added:
            fields["additional_tags"] = added
        if removed:
            fields["remove_tags"] = removed
        followers = [agent for agent in plan.followers if agent not in ticket.followers]
        if followers:
            # The documented way to add followers (`follower_ids` is read-only); "put" adds, never replaces.
            fields["followers"] = [
                {"user_email": agent, "action": "put"} if "@" in agent else {"user_id": int(agent), "action": "put"}
                for agent in followers
            ]
        return fields

    def pending_comments(self, ticket: Ticket, plan: Plan, ledger: CommentLedger) -> list[PlannedComment]:
        """Planned comments not yet sent (an unanswered send is looked for among our recent comments)."""

        def own_recent() -> list[str]:
            own = self.own_user_id()
            return [
                item.get(key) or ""
                for item in self.recent_comments(ticket.id, 20)
                if str(item.get("author_id")) == own
                for key in ("body", "plain_body")
            ]

        return unsent_comments(plan, ledger, own_recent)

    def apply(self, ticket: Ticket, plan: Plan, ledger: CommentLedger) -> int:
        fields = self.field_changes(ticket, plan)
        comments = self.pending_comments(ticket, plan, ledger)
        stamp = ticket.version or (format_instant(ticket.updated_at) if ticket.updated_at else None)
        calls = 0
        batches: list[tuple[dict[str, Any], PlannedComment | None]] = []
        if comments:
            batches = [(fields if i == 0 else {}, comment) for i, comment in enumerate(comments)]
        elif fields:
            batches = [(fields, None)]
        for batch_fields, comment in batches:
            update: dict[str, Any] = dict(batch_fields)
            if comment is not None:
                update["comment"] = {"body": comment.body, "public": comment.public}
                ledger.mark(comment.key, "sending")
            if stamp:
                update.update(safe_update=True, updated_stamp=stamp)
            answer = self.http.request(
                "PUT",
                f"/api/v2/tickets/{ticket.id}.json",
                json={"ticket": update},
                # A field-only update under safe_update is safe to repeat: a landed first try makes the
                # repeat a 409, which re-reads and finds nothing left to do.
                idempotent=comment is None,
            )
            calls += 1
            if comment is not None:
                ledger.mark(comment.key, "sent")
            stamp = (answer or {}).get("ticket", {}).get("updated_at") or stamp
        return calls
