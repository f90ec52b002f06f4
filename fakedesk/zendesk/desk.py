"""The fake Zendesk's records and what happens to them: users, organizations, tickets, comments, audits.

Every change goes through `_update` (agents in the UI, Escalator's PUTs, bulk jobs) or `_new_ticket` (the
customer's form, `POST /api/v2/tickets`), which record the audit Zendesk would keep and queue the
event-subscription webhooks Zendesk would send. The HTTP side lives in the sibling modules.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

from escalator.fakedesk.base import FakeDesk, Outgoing, TokenBucket, iso
from escalator.fakedesk.zendesk import admin, api, audits, bulk, events, export
from escalator.fakedesk.zendesk.account import AGENT_ID, OWN_USER_ID, TICKET_UPDATE, user_record
from escalator.fakedesk.zendesk.audits import AuditLog

ROUTES = (api.add_routes, bulk.add_routes, audits.add_routes, export.add_routes, admin.add_routes)
"""The API by area; each adds its endpoints to the fake's app."""


@dataclass
class FakeZendesk(FakeDesk):
    """A fake Zendesk that speaks the real API shapes: for the demo, the tests and the benchmarks.

    It keeps tickets, users, organizations, groups, comments and audits in memory, enforces `safe_update`
    (409), takes one comment per update, can inject failures (429 with Retry-After, 5xx, slow answers, dropped
    connections) and sends signed event-subscription webhooks for what happens to its tickets, including
    Escalator's own updates (echoes).

    `enforce_rate_limits()` turns on Zendesk's budgets as token buckets (the account's requests, the Update
    Ticket endpoint): a call finding either empty answers 429 + Retry-After and spends nothing; every answer
    carries the rate-limit headers Zendesk sends.

    `writes` records {"ticket_id", **the ticket changes} per accepted save, with "call": "create" for a created
    ticket and the "job_id" for a change an update_many job applied.
    """

    app_public_key: str | None = None
    """The PEM `GET /api/v2/apps/{id}/public_key.pem` serves (None: 404, no such app)."""

    NAME = "fake-zendesk"
    TICKET_UPDATE = TICKET_UPDATE
    UPDATE_BUCKET = "tickets-update"

    def _setup(self) -> None:
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {
            OWN_USER_ID: user_record(
                OWN_USER_ID, "Escalator", "escalator@acme.example", "admin", "en-US", "America/New_York"
            ),
            AGENT_ID: user_record(AGENT_ID, "Alex Agent", "alex@acme.example", "agent", "en-US", "America/New_York"),
        }
        self.organizations: dict[int, dict[str, Any]] = {}
        self.audit_log = AuditLog()
        self.webhooks: dict[str, dict[str, Any]] = {}
        """Webhooks created through the API, by id (`install` creates Escalator's)."""
        self.signing_secrets: dict[str, str] = {}
        self.installations: list[dict[str, Any]] = []
        """App installations `GET /api/v2/apps/installations.json` lists (`add_installation`)."""
        self.export_delay = 60.0
        """Seconds of recent changes the incremental exports hold back (Zendesk: "the most recent minute")."""
        self.export_bucket: TokenBucket | None = None
        """Zendesk's 10 incremental exports a minute, when `enforce_export_limit()` was called."""
        self._ids = itertools.count(1)
        self._comment_ids = itertools.count(5000)
        self._webhook_ids = itertools.count(1)

    @property
    def audits(self) -> dict[int, list[dict[str, Any]]]:
        """Each ticket's audits, oldest first, as `GET /api/v2/tickets/{id}/audits` lists them."""
        return self.audit_log.by_ticket

    # --- budgets -------------------------------------------------------------------------------------------

    def enforce_rate_limits(
        self,
        requests_per_period: int | None = 700,
        ticket_updates_per_period: int | None = 100,
        *,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Enforce the account's budget and the Update Ticket budget as token buckets (None: not enforced).

        A shorter `period` scales Zendesk's minute down for tests that cannot wait for real minutes."""
        self._enforce(requests_per_period, ticket_updates_per_period, period, clock)

    def enforce_export_limit(
        self, per_period: int = 10, *, period: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Answer 429 + Retry-After to incremental exports beyond `per_period` a `period` (Zendesk: 10/min)."""
        self.export_bucket = TokenBucket(per_period, period, clock)

    # --- the admin's and the customer's side ------------------------------------------------------------

    def add_user(
        self,
        name: str,
        email: str,
        *,
        role: str = "end-user",
        locale: str = "en-US",
        organization_id: int | None = None,
        time_zone: str = "America/New_York",
    ) -> int:
        """A user; `time_zone` is an IANA name, shown as Zendesk shows it (`time_zone` and `iana_time_zone`)."""
        user_id = 10_000 + len(self.users)
        self.users[user_id] = {
            **user_record(user_id, name, email, role, locale, time_zone),
            "organization_id": organization_id,
        }
        return user_id

    def add_organization(self, name: str, tags: list[str], fields: dict[str, Any] | None = None) -> int:
        org_id = 30_000 + len(self.organizations)
        self.organizations[org_id] = {"id": org_id, "name": name, "tags": tags, "organization_fields": fields or {}}
        return org_id

    def add_installation(self, app_id: int, *, settings: dict[str, Any] | None = None, enabled: bool = True) -> int:
        """An app installed on the account, as `GET /api/v2/apps/installations.json` shows it."""
        installation_id = 70_000 + len(self.installations)
        stamp = iso(datetime.now(UTC))
        self.installations.append(
            {
                "id": installation_id,
                "app_id": app_id,
                "product": "support",
                "settings": {"name": f"App {app_id}", **(settings or {})},
                "settings_objects": [{"name": key, "value": value} for key, value in (settings or {}).items()],
                "enabled": enabled,
                "paid": False,
                "collapsible": True,
                "group_restrictions": [],
                "role_restrictions": None,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        return installation_id

    def create_ticket(
        self,
        subject: str,
        description: str,
        requester_id: int,
        *,
        priority: str | None = None,
        group: str | None = "Tier 1",
        tags: list[str] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A customer opens a ticket through the web form; sends `ticket.created` when webhooks are on."""
        fields = {"subject": subject, "priority": priority, "group_id": self._group_id(group), "tags": tags or []}
        return self._new_ticket(fields, description, True, requester_id, actor=requester_id, channel="web", at=at)

    def customer_comment(self, ticket_id: int, body: str, *, at: datetime | None = None) -> None:
        ticket = self.tickets[ticket_id]
        self.add_comment(ticket_id, body, public=True, author_id=ticket["requester_id"], at=at)

    def add_comment(
        self, ticket_id: int, body: str, *, public: bool, author_id: int, at: datetime | None = None
    ) -> None:
        now = at or datetime.now(UTC)
        with self._lock:
            ticket = self.tickets[ticket_id]
            audit = self.audit_log.open(ticket_id, author_id, "web")
            comment = self._comment(body, public, author_id, now)
            self.comments[ticket_id].append(comment)
            self.audit_log.comment(audit, comment)
            if ticket["status"] == "new" and self.users[author_id]["role"] != "end-user":
                self.audit_log.change(audit, "status", "open", ticket["status"])
                ticket["status"] = "open"
            ticket["updated_at"] = audit["created_at"] = self._bump(ticket, now)
            now = events.event_time(now, ticket["updated_at"])
        self._emit("ticket.comment_added", ticket, self._comment_added(comment), actor=author_id, at=now)

    def delete_ticket(self, ticket_id: int) -> None:
        """An agent deletes a ticket: it leaves the API but stays in the incremental export as `deleted`."""
        with self._lock:
            ticket = self.tickets[ticket_id]
            ticket["status"] = "deleted"
            ticket["updated_at"] = self._bump(ticket, datetime.now(UTC))

    def agent_update(self, ticket_id: int, *, at: datetime | None = None, **changes: Any) -> None:
        """An agent changes fields in the Zendesk UI (moves updated_at, so a stale safe_update gets 409);
        `at` dates the change (a scripted clock), by default now."""
        self._update(ticket_id, changes, actor=AGENT_ID, at=at)

    # --- changes -------------------------------------------------------------------------------------------

    def _comment(self, body: str, public: bool, author_id: int, now: datetime) -> dict[str, Any]:
        return {
            "id": next(self._comment_ids),
            "type": "Comment",
            "author_id": author_id,
            "body": body,
            "plain_body": body,
            "html_body": f"<p>{body}</p>",
            "public": public,
            "created_at": iso(now),
        }

    def _comment_added(self, comment: dict[str, Any]) -> dict[str, Any]:
        """The `event` of `ticket.comment_added`."""
        author = self.users[comment["author_id"]]
        return {
            "comment": {
                "id": str(comment["id"]),
                "body": comment["body"],
                "is_public": comment["public"],
                "author": {"id": str(author["id"]), "is_staff": author["role"] != "end-user", "name": author["name"]},
            }
        }

    def _new_ticket(
        self,
        fields: dict[str, Any],
        description: str,
        public: bool,
        requester_id: int,
        *,
        actor: int,
        channel: str,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Open a ticket with its first comment and its `Create` audit; sends `ticket.created`."""
        now = at or datetime.now(UTC)
        with self._lock:
            ticket_id = next(self._ids)
            ticket = {
                "id": ticket_id,
                "url": f"/api/v2/tickets/{ticket_id}.json",
                "subject": fields["subject"],
                "description": description,
                "raw_subject": fields["subject"],
                "status": fields.get("status") or ("open" if fields.get("assignee_id") else "new"),
                "priority": fields.get("priority"),
                "type": fields.get("type"),
                "problem_id": fields.get("problem_id"),
                "external_id": fields.get("external_id"),
                "group_id": fields.get("group_id"),
                "assignee_id": fields.get("assignee_id"),
                "requester_id": requester_id,
                "submitter_id": actor,
                "organization_id": self.users[requester_id].get("organization_id"),
                "tags": list(fields.get("tags") or []),
                "follower_ids": list(fields.get("follower_ids") or []),
                "via": {"channel": channel},
                "custom_fields": [],
                "created_at": iso(now),
                "updated_at": iso(now),
                "is_public": public,
            }
            self.tickets[ticket_id] = ticket
            first = self._comment(description, public, fields.get("author_id", requester_id), now)
            self.comments[ticket_id] = [first]
            self.audit_log.created(ticket, first, actor, channel)
        self._emit("ticket.created", ticket, {"meta": {}}, actor=actor, at=now)
        return ticket

    def _update(
        self, ticket_id: int, changes: dict[str, Any], actor: int, at: datetime | None = None
    ) -> dict[str, Any]:
        """Apply one save: fields, tags, followers, one comment; audit it and queue its events."""
        now = at or datetime.now(UTC)
        with self._lock:
            ticket = self.tickets[ticket_id]
            audit = self.audit_log.open(ticket_id, actor, "api" if actor == OWN_USER_ID else "web", changes)
            announced = self._set_fields(ticket, changes, audit) + self._set_tags(ticket, changes, audit)
            self._set_followers(ticket, changes, audit)
            comment = changes.get("comment")
            if comment:
                stored = self._comment(comment["body"], comment.get("public", True), actor, now)
                self.comments[ticket_id].append(stored)
                self.audit_log.comment(audit, stored)
                announced.append(("ticket.comment_added", self._comment_added(stored)))
            ticket["updated_at"] = audit["created_at"] = self._bump(ticket, now)
            now = events.event_time(now, ticket["updated_at"])
        for name, event in announced:
            self._emit(name, ticket, event, actor=actor, at=now)
        return ticket

    def _set_fields(
        self, ticket: dict[str, Any], changes: dict[str, Any], audit: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        announced = []
        for key, name, convert in events.FIELD_EVENTS:
            if key in changes and changes[key] != ticket[key]:
                self.audit_log.change(audit, key, changes[key], ticket[key])
                if name is not None:
                    shown = {
                        "previous": convert(ticket[key]) if ticket[key] else None,
                        "current": convert(changes[key]),
                    }
                    announced.append((name, shown))
                ticket[key] = changes[key]
        return announced

    def _set_tags(
        self, ticket: dict[str, Any], changes: dict[str, Any], audit: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        added = [tag for tag in changes.get("additional_tags", []) if tag not in ticket["tags"]]
        removed = [tag for tag in changes.get("remove_tags", []) if tag in ticket["tags"]]
        if not (added or removed):
            return []
        tags = [tag for tag in ticket["tags"] if tag not in removed] + added
        self.audit_log.change(audit, "tags", tags, ticket["tags"])
        ticket["tags"] = tags
        return [("ticket.tags_changed", {"tags_added": added, "tags_removed": removed})]

    def _set_followers(self, ticket: dict[str, Any], changes: dict[str, Any], audit: dict[str, Any]) -> None:
        followers = self._follower_ids(ticket["follower_ids"], changes.get("followers", []))
        if followers != ticket["follower_ids"]:
            self.audit_log.followers(audit, followers, ticket["follower_ids"])
            ticket["follower_ids"] = followers

    def _follower_ids(self, current: list[int], items: list[dict[str, Any]]) -> list[int]:
        """`followers: [{"user_id" | "user_email", "action": "put" | "delete"}]` applied to `current`, as Zendesk
        takes them (the documented way to set followers; `follower_ids` itself is read-only)."""
        followers = list(current)
        for item in items:
            user_id = item.get("user_id") or self._user_by_email(item.get("user_email"))
            if item.get("action", "put") == "delete":
                followers = [follower for follower in followers if follower != user_id]
            elif user_id is not None and user_id not in followers:
                followers.append(user_id)
        return followers

    def _user_by_email(self, email: str | None) -> int | None:
        return next((user["id"] for user in self.users.values() if email and user["email"] == email), None)

    # --- webhooks ------------------------------------------------------------------------------------------

    def event_payload(
        self, name: str, ticket: dict[str, Any], event: dict[str, Any], actor: int, at: datetime
    ) -> dict[str, Any]:
        """An event-subscription payload as Zendesk sends it (see `events.payload`)."""
        return events.payload(name, ticket, event, actor, at)

    def _emit(self, name: str, ticket: dict[str, Any], event: dict[str, Any], actor: int, at: datetime) -> None:
        if self.webhook_url is None or (actor == OWN_USER_ID and not self.echo):
            return
        self._outbox.append(Outgoing(self.event_payload(name, ticket, event, actor, at)))

    def _webhook_headers(self, body: bytes) -> dict[str, str]:
        return events.signed_headers(self.webhook_secret, body)

    # --- the request pipeline's Zendesk side ---------------------------------------------------------------

    def _add_routes(self, app: Flask) -> None:
        for add in ROUTES:
            add(app, self)

    def _authenticated(self) -> bool:
        return bool(request.headers.get("Authorization"))

    def _unauthenticated(self) -> Response:
        response = jsonify({"error": "Couldn't authenticate you"})
        response.status_code = 401
        return response

    def _error_body(self, status: int) -> dict[str, Any]:
        return {"error": "Injected", "description": f"injected {status}"}

    def _too_many(self, wait: float, line: str) -> Response:
        response = jsonify({"error": "APIRateLimitExceeded", "description": f"Rate limit exceeded: {line}"})
        response.status_code = 429
        response.headers["Retry-After"] = f"{math.ceil(wait * 1000) / 1000:g}"
        return response

    def _rate_headers(self, response: Response, line: str) -> Response:
        with self._lock:
            account = self.buckets.get("requests")
            if account is not None:
                for name in ("x-rate-limit", "ratelimit-limit"):
                    response.headers[name] = str(account.limit)
                for name in ("x-rate-limit-remaining", "ratelimit-remaining"):
                    response.headers[name] = str(account.remaining())
                response.headers["ratelimit-reset"] = str(account.resets())
            updates = self.buckets.get(self.UPDATE_BUCKET)
            if updates is not None and TICKET_UPDATE.fullmatch(line):
                response.headers["Zendesk-RateLimit-tickets-update"] = (
                    f"total={updates.limit}; remaining={updates.remaining()}; resets={updates.resets()}"
                )
        return response
