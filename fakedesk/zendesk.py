"""A fake Zendesk that speaks the real API shapes: for the demo, the tests and the benchmarks.

It keeps tickets, users, organizations, groups and comments in memory, enforces `safe_update` (409), takes
one comment per update, can inject failures (429 with Retry-After, 5xx, slow answers) and can send signed
event-subscription webhooks for what happens to its tickets, including Escalator's own updates (echoes).

`enforce_rate_limits()` turns on Zendesk's budgets as token buckets (the account's requests, the Update
Ticket endpoint): a call finding either empty answers 429 + Retry-After and spends nothing; every answer
carries the rate-limit headers Zendesk sends.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from escalator.connectors.zendesk.webhook import INVOCATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from escalator.fakedesk.base import Fault, TokenBucket, admit, injected_fault

OWN_USER_ID = 900
"""The integration user Escalator authenticates as."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _event_time(now: datetime, updated_at: str) -> datetime:
    """An event happens within the second of the ticket's new `updated_at` (which has whole seconds), as on
    one clock: when `_bump` moved `updated_at` past `now`, the event time moves with it (keeping its fraction)."""
    updated = _parse(updated_at)
    return now if now >= updated else updated.replace(microsecond=now.microsecond)


TICKET_UPDATE = re.compile(r"PUT /api/v2/tickets/(\d+|update_many)(\.json)?")
"""Calls the fake counts against the Update Ticket limit."""


@dataclass
class FakeZendesk:
    groups: dict[int, str] = field(
        default_factory=lambda: {
            101: "Tier 1",
            102: "Tier 2",
            103: "Tier 3",
            201: "Finance",
            202: "Legal",
            203: "Security",
        }
    )
    webhook_url: str | None = None
    webhook_secret: str = ""
    echo: bool = True
    """Send webhooks for Escalator's own updates too, as Zendesk does."""

    def __post_init__(self) -> None:
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {
            OWN_USER_ID: {
                "id": OWN_USER_ID,
                "name": "Escalator",
                "email": "escalator@acme.example",
                "role": "admin",
                "locale": "en-US",
                "tags": [],
            },
            901: {
                "id": 901,
                "name": "Alex Agent",
                "email": "alex@acme.example",
                "role": "agent",
                "locale": "en-US",
                "tags": [],
            },
        }
        self.organizations: dict[int, dict[str, Any]] = {}
        self.writes: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.buckets: dict[str, TokenBucket] = {}
        """Enforced budgets ("requests", "tickets-update"), empty unless `enforce_rate_limits()` was called."""
        self.rate_limited: list[tuple[str, str]] = []
        """Every request answered 429 by an enforced budget, as (METHOD, path)."""
        self.admitted: list[tuple[float, str]] = []
        """(clock time, 'METHOD path') of every request an enforced budget let through."""
        self.hooks: list[Callable[[str], None]] = []
        """Called with 'METHOD /path' before each request is handled: tests make agents race Escalator."""
        self._ids = itertools.count(1)
        self._comment_ids = itertools.count(5000)
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._outbox: list[tuple[dict[str, Any], datetime]] = []
        self.webhooks: dict[str, dict[str, Any]] = {}
        """Webhooks created through the API, by id (`install` creates Escalator's)."""
        self.signing_secrets: dict[str, str] = {}
        self.export_delay = 60.0
        """Seconds of recent changes the incremental export holds back (Zendesk: "the most recent minute")."""
        self.export_bucket: TokenBucket | None = None
        """Zendesk's 10 incremental exports a minute, when `enforce_export_limit()` was called."""
        self._webhook_ids = itertools.count(1)
        self.app = self._build_app()

    # --- running -------------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-zendesk")
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def fail(
        self, pattern: str, status: int, times: int = 1, retry_after: float | None = None, delay: float = 0.0
    ) -> None:
        """The next `times` requests whose 'METHOD path' matches answer `status` (after `delay` seconds)."""
        self.faults.append(Fault(re.compile(pattern), status, times, retry_after, delay))

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
        self.buckets = {}
        if requests_per_period is not None:
            self.buckets["requests"] = TokenBucket(requests_per_period, period, clock)
        if ticket_updates_per_period is not None:
            self.buckets["tickets-update"] = TokenBucket(ticket_updates_per_period, period, clock)

    def enforce_export_limit(
        self, per_period: int = 10, *, period: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Answer 429 + Retry-After to incremental exports beyond `per_period` a `period` (Zendesk: 10/min)."""
        self.export_bucket = TokenBucket(per_period, period, clock)

    def take_tokens(self, bucket: str, count: int) -> None:
        """Another integration on the same account spends `count` calls of a budget."""
        self.buckets[bucket].take(count)

    # --- the admin's and the customer's side ------------------------------------------------------------

    def add_user(
        self,
        name: str,
        email: str,
        *,
        role: str = "end-user",
        locale: str = "en-US",
        organization_id: int | None = None,
    ) -> int:
        user_id = 10_000 + len(self.users)
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "email": email,
            "role": role,
            "locale": locale,
            "tags": [],
            "organization_id": organization_id,
        }
        return user_id

    def add_organization(self, name: str, tags: list[str], fields: dict[str, Any] | None = None) -> int:
        org_id = 30_000 + len(self.organizations)
        self.organizations[org_id] = {"id": org_id, "name": name, "tags": tags, "organization_fields": fields or {}}
        return org_id

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
        """A customer opens a ticket; sends `ticket.created` when webhooks are on."""
        now = at or datetime.now(UTC)
        with self._lock:
            ticket_id = next(self._ids)
            requester = self.users[requester_id]
            ticket = {
                "id": ticket_id,
                "url": f"/api/v2/tickets/{ticket_id}.json",
                "subject": subject,
                "description": description,
                "raw_subject": subject,
                "status": "new",
                "priority": priority,
                "type": None,
                "group_id": self._group_id(group),
                "assignee_id": None,
                "requester_id": requester_id,
                "submitter_id": requester_id,
                "organization_id": requester.get("organization_id"),
                "tags": tags or [],
                "via": {"channel": "web"},
                "custom_fields": [],
                "created_at": _iso(now),
                "updated_at": _iso(now),
                "is_public": True,
            }
            self.tickets[ticket_id] = ticket
            self.comments[ticket_id] = [self._comment(description, True, requester_id, now)]
        self._emit("ticket.created", ticket, {"meta": {}}, actor=requester_id, at=now)
        return ticket

    def customer_comment(self, ticket_id: int, body: str, *, at: datetime | None = None) -> None:
        ticket = self.tickets[ticket_id]
        self.add_comment(ticket_id, body, public=True, author_id=ticket["requester_id"], at=at)

    def add_comment(
        self, ticket_id: int, body: str, *, public: bool, author_id: int, at: datetime | None = None
    ) -> None:
        now = at or datetime.now(UTC)
        with self._lock:
            ticket = self.tickets[ticket_id]
            comment = self._comment(body, public, author_id, now)
            self.comments[ticket_id].append(comment)
            if ticket["status"] == "new" and self.users[author_id]["role"] != "end-user":
                ticket["status"] = "open"
            ticket["updated_at"] = self._bump(ticket, now)
            now = _event_time(now, ticket["updated_at"])
        author = self.users[author_id]
        self._emit(
            "ticket.comment_added",
            ticket,
            {
                "comment": {
                    "id": str(comment["id"]),
                    "body": body,
                    "is_public": public,
                    "author": {"id": str(author_id), "is_staff": author["role"] != "end-user", "name": author["name"]},
                }
            },
            actor=author_id,
            at=now,
        )

    def delete_ticket(self, ticket_id: int) -> None:
        """An agent deletes a ticket: it leaves the API but stays in the incremental export as `deleted`."""
        with self._lock:
            ticket = self.tickets[ticket_id]
            ticket["status"] = "deleted"
            ticket["updated_at"] = self._bump(ticket, datetime.now(UTC))

    def agent_update(self, ticket_id: int, **changes: Any) -> None:
        """An agent changes fields in the Zendesk UI (moves updated_at, so a stale safe_update gets 409)."""
        self._update(ticket_id, changes, actor=901)

    # --- helpers -----------------------------------------------------------------------------------------

    def _group_id(self, group: str | None) -> int | None:
        return next((gid for gid, name in self.groups.items() if name == group), None)

    def _comment(self, body: str, public: bool, author_id: int, now: datetime) -> dict[str, Any]:
        return {
            "id": next(self._comment_ids),
            "type": "Comment",
            "author_id": author_id,
            "body": body,
            "plain_body": body,
            "html_body": f"<p>{body}</p>",
            "public": public,
            "created_at": _iso(now),
        }

    @staticmethod
    def _bump(ticket: dict[str, Any], now: datetime) -> str:
        # updated_at has whole seconds, as Zendesk's; make each change visible to safe_update anyway.
        previous = datetime.fromisoformat(ticket["updated_at"].replace("Z", "+00:00"))
        return _iso(max(now, previous + timedelta(seconds=1)))

    def _update(self, ticket_id: int, changes: dict[str, Any], actor: int) -> dict[str, Any]:
        now = datetime.now(UTC)
        events: list[tuple[str, dict[str, Any]]] = []
        with self._lock:
            ticket = self.tickets[ticket_id]
            for key, name, convert in (
                ("group_id", "ticket.group_assignment_changed", str),
                ("priority", "ticket.priority_changed", lambda v: str(v).upper()),
                ("assignee_id", "ticket.agent_assignment_changed", str),
                ("status", "ticket.status_changed", lambda v: str(v).upper()),
            ):
                if key in changes and changes[key] != ticket[key]:
                    events.append(
                        (
                            name,
                            {
                                "previous": convert(ticket[key]) if ticket[key] else None,
                                "current": convert(changes[key]),
                            },
                        )
                    )
                    ticket[key] = changes[key]
            added = [tag for tag in changes.get("additional_tags", []) if tag not in ticket["tags"]]
            removed = [tag for tag in changes.get("remove_tags", []) if tag in ticket["tags"]]
            if added or removed:
                ticket["tags"] = [tag for tag in ticket["tags"] if tag not in removed] + added
                events.append(("ticket.tags_changed", {"tags_added": added, "tags_removed": removed}))
            comment = changes.get("comment")
            if comment:
                stored = self._comment(comment["body"], comment.get("public", True), actor, now)
                self.comments[ticket_id].append(stored)
                events.append(
                    (
                        "ticket.comment_added",
                        {
                            "comment": {
                                "id": str(stored["id"]),
                                "body": stored["body"],
                                "is_public": stored["public"],
                                "author": {"id": str(actor), "is_staff": True, "name": self.users[actor]["name"]},
                            }
                        },
                    )
                )
            ticket["updated_at"] = self._bump(ticket, now)
            now = _event_time(now, ticket["updated_at"])
        for name, event in events:
            self._emit(name, ticket, event, actor=actor, at=now)
        return ticket

    def event_payload(
        self, name: str, ticket: dict[str, Any], event: dict[str, Any], actor: int, at: datetime
    ) -> dict[str, Any]:
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
                "type": None,
                "updated_at": ticket["updated_at"],
                "via": {"channel": "web_form"},
            },
            "event": event,
        }

    def _emit(self, name: str, ticket: dict[str, Any], event: dict[str, Any], actor: int, at: datetime) -> None:
        if self.webhook_url is None or (actor == OWN_USER_ID and not self.echo):
            return
        self._outbox.append((self.event_payload(name, ticket, event, actor, at), at))

    def flush_webhooks(self, post: Callable[..., Any] = requests.post) -> list[int]:
        """Deliver queued webhooks (signed); returns the HTTP statuses. Kept explicit so tests control timing."""
        statuses = []
        while self._outbox:
            payload, _at = self._outbox.pop(0)
            statuses.append(self.deliver(payload, post=post))
        return statuses

    def deliver(self, payload: dict[str, Any], post: Callable[..., Any] = requests.post) -> int:
        assert self.webhook_url is not None
        body = json.dumps(payload).encode()
        timestamp = _iso(datetime.now(UTC))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.webhook_secret, body, timestamp),
            INVOCATION_HEADER: str(uuid.uuid4()),
        }
        return int(post(self.webhook_url, data=body, headers=headers, timeout=10).status_code)

    def pending_webhooks(self) -> list[dict[str, Any]]:
        return [payload for payload, _ in self._outbox]

    # --- the REST API --------------------------------------------------------------------------------------

    def _buckets_for(self, line: str) -> list[TokenBucket]:
        names = ["requests", "tickets-update"] if TICKET_UPDATE.fullmatch(line) else ["requests"]
        return [self.buckets[name] for name in names if name in self.buckets]

    def _spend(self, line: str) -> Response | None:
        """Take one token from each budget the call draws on, or answer 429 and take none."""
        if not self.buckets:
            return None
        with self._lock:
            buckets = self._buckets_for(line)
            wait = admit(buckets)
            if wait > 0:
                self.rate_limited.append((request.method, request.path))
                response = jsonify({"error": "APIRateLimitExceeded", "description": f"Rate limit exceeded: {line}"})
                response.status_code = 429
                response.headers["Retry-After"] = f"{math.ceil(wait * 1000) / 1000:g}"
                return response
            if buckets:
                self.admitted.append((buckets[0].clock(), line))
        return None

    def _rate_headers(self, response: Response) -> Response:
        line = f"{request.method} {request.path}"
        with self._lock:
            account = self.buckets.get("requests")
            if account is not None:
                for name in ("x-rate-limit", "ratelimit-limit"):
                    response.headers[name] = str(account.limit)
                for name in ("x-rate-limit-remaining", "ratelimit-remaining"):
                    response.headers[name] = str(account.remaining())
                response.headers["ratelimit-reset"] = str(account.resets())
            updates = self.buckets.get("tickets-update")
            if updates is not None and TICKET_UPDATE.fullmatch(line):
                response.headers["Zendesk-RateLimit-tickets-update"] = (
                    f"total={updates.limit}; remaining={updates.remaining()}; resets={updates.resets()}"
                )
        return response

    def _fault(self) -> Response | None:
        return injected_fault(
            self.faults,
            f"{request.method} {request.path}",
            lambda status: {"error": "Injected", "description": f"injected {status}"},
        )

    def metric_set(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """A ticket's metric set as the export sideloads it: replies and the first reply time, from comments."""
        created = _parse(ticket["created_at"])
        replies = [
            c
            for c in self.comments.get(ticket["id"], [])
            if c["public"] and self.users.get(c["author_id"], {}).get("role", "end-user") != "end-user"
        ]
        first = (_parse(replies[0]["created_at"]) - created).total_seconds() if replies else None
        return {
            "ticket_id": ticket["id"],
            "created_at": ticket["created_at"],
            "updated_at": ticket["updated_at"],
            "replies": len(replies),
            "reply_time_in_minutes": {"calendar": None if first is None else int(first // 60), "business": None},
            "reply_time_in_seconds": {"calendar": None if first is None else int(first)},
            "requester_updated_at": None,
            "assignee_updated_at": None,
            "status_updated_at": ticket["updated_at"],
            "latest_comment_added_at": self.comments[ticket["id"]][-1]["created_at"]
            if self.comments.get(ticket["id"])
            else None,
        }

    def _export(self) -> Response | tuple[Response, int]:
        """`GET /api/v2/incremental/tickets/cursor`: tickets ordered by (updated_at, id) after a cursor or a
        start time, without the most recent `export_delay` seconds; the cursor encodes the last one listed."""
        now = datetime.now(UTC).timestamp()
        if self.export_bucket is not None:
            with self._lock:
                wait = admit([self.export_bucket])
                if wait > 0:
                    self.rate_limited.append((request.method, request.path))
                    response = jsonify({"error": "APIRateLimitExceeded", "description": "Too many export requests"})
                    response.status_code = 429
                    response.headers["Retry-After"] = str(math.ceil(wait))
                    return response
        per_page = min(1000, max(1, int(request.args.get("per_page", 1000))))
        cursor = request.args.get("cursor")
        if cursor:
            try:
                after = tuple(int(part) for part in base64.urlsafe_b64decode(cursor.encode()).decode().split("|"))
            except (ValueError, UnicodeDecodeError):
                return jsonify({"error": "InvalidCursor", "description": "Invalid cursor"}), 422
        else:
            start = request.args.get("start_time")
            if start is None or not start.isdigit():
                return jsonify({"error": "InvalidValue", "description": "start_time is required"}), 400
            if int(start) > now - 60:
                return jsonify(
                    {
                        "error": "InvalidValue",
                        "description": "Too recent start_time. Use a start_time older than 1 minute",
                    }
                ), 400
            after = (int(start) - 1, 2**62)
        horizon = now - self.export_delay
        with self._lock:
            listed = sorted(
                (
                    (int(_parse(ticket["updated_at"]).timestamp()), ticket_id, dict(ticket))
                    for ticket_id, ticket in self.tickets.items()
                ),
            )
            eligible = [item for item in listed if (item[0], item[1]) > after and item[0] <= horizon]
            page = eligible[:per_page]
            metrics = (
                [self.metric_set(item[2]) for item in page]
                if "metric_sets" in request.args.get("include", "")
                else None
            )
        last = (page[-1][0], page[-1][1]) if page else after
        after_cursor = base64.urlsafe_b64encode(f"{last[0]}|{last[1]}".encode()).decode()
        body: dict[str, Any] = {
            "tickets": [{**item[2], "generated_timestamp": item[0]} for item in page],
            "after_cursor": after_cursor,
            "after_url": f"{self.base_url}/api/v2/incremental/tickets/cursor.json?cursor={after_cursor}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": len(eligible) <= per_page,
        }
        if metrics is not None:
            body["metric_sets"] = metrics
        return jsonify(body)

    def _search_count(self) -> Response:
        """`GET /api/v2/search/count?query=type:ticket status<solved` (the only queries the fake understands)."""
        query = request.args.get("query", "")
        with self._lock:
            tickets = [t for t in self.tickets.values() if t["status"] != "deleted"]
            if "status<solved" in query:
                tickets = [t for t in tickets if t["status"] in ("new", "open", "pending", "hold")]
        return jsonify({"count": len(tickets) if "type:ticket" in query else 0})

    # --- the webhooks API ----------------------------------------------------------------------------------

    def _webhook_problems(self, webhook: dict[str, Any]) -> list[dict[str, str]]:
        problems = [
            {"code": "InvalidInput", "title": "Invalid input", "detail": f"{name} is required", "source": name}
            for name in ("name", "endpoint", "http_method", "request_format", "status")
            if not webhook.get(name)
        ]
        subscriptions = webhook.get("subscriptions") or []
        events = [item for item in subscriptions if str(item).startswith("zen:event-type:")]
        if events and "conditional_ticket_events" in subscriptions:
            problems.append(
                {"code": "InvalidInput", "title": "Invalid input", "detail": "events and triggers cannot be mixed"}
            )
        if events and (webhook.get("http_method") != "POST" or webhook.get("request_format") != "json"):
            problems.append(
                {"code": "InvalidInput", "title": "Invalid input", "detail": "event subscriptions need POST and json"}
            )
        return problems

    def _build_app(self) -> Flask:
        app = Flask("fake-zendesk")
        fake = self

        @app.before_request
        def _before() -> Response | None:
            fake.requests.append((request.method, request.full_path.rstrip("?")))
            for hook in list(fake.hooks):
                hook(f"{request.method} {request.path}")
            if not request.headers.get("Authorization"):
                response = jsonify({"error": "Couldn't authenticate you"})
                response.status_code = 401
                return response
            return fake._spend(f"{request.method} {request.path}") or fake._fault()

        @app.after_request
        def _after(response: Response) -> Response:
            return fake._rate_headers(response) if fake.buckets else response

        @app.get("/api/v2/users/me.json")
        def me() -> Response:
            return jsonify({"user": fake.users[OWN_USER_ID]})

        @app.get("/api/v2/groups.json")
        def groups() -> Response:
            page = int(request.args.get("page", 1))
            items = sorted(fake.groups.items())
            per_page = 100
            chunk = items[(page - 1) * per_page : page * per_page]
            more = len(items) > page * per_page
            return jsonify(
                {
                    "groups": [{"id": gid, "name": name, "deleted": False} for gid, name in chunk],
                    "next_page": f"{fake.base_url}/api/v2/groups.json?page={page + 1}" if more else None,
                    "count": len(items),
                }
            )

        @app.get("/api/v2/tickets/<int:ticket_id>.json")
        def show(ticket_id: int) -> Response | tuple[Response, int]:
            ticket = fake.tickets.get(ticket_id)
            if ticket is None:
                return jsonify({"error": "RecordNotFound", "description": "Not found"}), 404
            include = request.args.get("include", "").split(",")
            body: dict[str, Any] = {"ticket": ticket}
            if "users" in include:
                body["users"] = [fake.users[ticket["requester_id"]]]
            if "organizations" in include:
                org = fake.organizations.get(ticket["organization_id"])
                body["organizations"] = [org] if org else []
            return jsonify(body)

        @app.put("/api/v2/tickets/<int:ticket_id>.json")
        def update(ticket_id: int) -> Response | tuple[Response, int]:
            ticket = fake.tickets.get(ticket_id)
            if ticket is None:
                return jsonify({"error": "RecordNotFound", "description": "Not found"}), 404
            changes = (request.get_json(silent=True) or {}).get("ticket")
            if not isinstance(changes, dict):
                return jsonify({"error": "RecordInvalid", "description": "ticket missing"}), 400
            if "comment" in changes and ("body" not in changes["comment"] or "public" not in changes["comment"]):
                return jsonify({"error": "RecordInvalid", "description": "comment needs body and public"}), 422
            if changes.get("group_id") is not None and changes["group_id"] not in fake.groups:
                return jsonify(
                    {
                        "error": "RecordInvalid",
                        "description": "Record validation errors",
                        "details": {"group": [{"description": "Group is invalid"}]},
                    }
                ), 422
            if changes.get("safe_update") and changes.get("updated_stamp") != ticket["updated_at"]:
                return jsonify(
                    {
                        "error": "UpdateConflict",
                        "description": "Safe Update prevented the update due to outdated ticket data.",
                    }
                ), 409
            fake.writes.append({"ticket_id": ticket_id, **changes})
            updated = fake._update(ticket_id, changes, actor=OWN_USER_ID)
            return jsonify({"ticket": updated, "audit": {"id": next(fake._comment_ids)}})

        @app.get("/api/v2/users/<int:user_id>.json")
        def show_user(user_id: int) -> Response | tuple[Response, int]:
            user = fake.users.get(user_id)
            if user is None:
                return jsonify({"error": "RecordNotFound", "description": "Not found"}), 404
            return jsonify({"user": user})

        @app.get("/api/v2/organizations/<int:org_id>.json")
        def show_organization(org_id: int) -> Response | tuple[Response, int]:
            organization = fake.organizations.get(org_id)
            if organization is None:
                return jsonify({"error": "RecordNotFound", "description": "Not found"}), 404
            return jsonify({"organization": organization})

        @app.get("/api/v2/tickets/<int:ticket_id>/comments.json")
        def comments(ticket_id: int) -> Response:
            items = list(fake.comments.get(ticket_id, []))
            if request.args.get("sort_order") == "desc":
                items.reverse()
            items = items[: int(request.args.get("per_page", 100))]
            body: dict[str, Any] = {"comments": items, "next_page": None, "count": len(items)}
            if "users" in request.args.get("include", ""):
                body["users"] = [fake.users[c["author_id"]] for c in items if c["author_id"] in fake.users]
            return jsonify(body)

        @app.get("/api/v2/incremental/tickets/cursor.json")
        @app.get("/api/v2/incremental/tickets/cursor")
        def export() -> Response | tuple[Response, int]:
            return fake._export()

        @app.get("/api/v2/search/count.json")
        @app.get("/api/v2/search/count")
        def search_count() -> Response:
            return fake._search_count()

        @app.get("/api/v2/webhooks")
        def list_webhooks() -> Response:
            size = min(100, int(request.args.get("page[size]", 100)))
            after = request.args.get("page[after]")
            ids = sorted(fake.webhooks)
            start = ids.index(after) + 1 if after in ids else 0
            chunk = ids[start : start + size]
            more = start + size < len(ids)
            nxt = f"{fake.base_url}/api/v2/webhooks?page[size]={size}&page[after]={chunk[-1]}" if more else None
            return jsonify(
                {
                    "webhooks": [fake.webhooks[i] for i in chunk],
                    "meta": {"has_more": more, "after_cursor": chunk[-1] if more else None, "before_cursor": None},
                    "links": {"next": nxt, "prev": None},
                }
            )

        @app.post("/api/v2/webhooks")
        def create_webhook() -> tuple[Response, int]:
            webhook = dict((request.get_json(silent=True) or {}).get("webhook") or {})
            problems = fake._webhook_problems(webhook)
            if problems:
                return jsonify({"errors": problems}), 400
            webhook_id = f"01HZESCALATOR{next(fake._webhook_ids):013d}"
            stamp = _iso(datetime.now(UTC))
            webhook.update(id=webhook_id, created_at=stamp, updated_at=stamp, created_by=str(OWN_USER_ID))
            fake.webhooks[webhook_id] = webhook
            fake.signing_secrets[webhook_id] = secrets.token_urlsafe(32)
            return jsonify({"webhook": webhook}), 201

        @app.get("/api/v2/webhooks/<webhook_id>")
        def show_webhook(webhook_id: str) -> Response | tuple[Response, int]:
            if webhook_id not in fake.webhooks:
                return jsonify({"errors": [{"code": "WebhookNotFound", "title": "Webhook not found"}]}), 404
            return jsonify({"webhook": fake.webhooks[webhook_id]})

        @app.patch("/api/v2/webhooks/<webhook_id>")
        def patch_webhook(webhook_id: str) -> Response | tuple[Response, int] | tuple[str, int]:
            if webhook_id not in fake.webhooks:
                return jsonify({"errors": [{"code": "WebhookNotFound", "title": "Webhook not found"}]}), 404
            changes = dict((request.get_json(silent=True) or {}).get("webhook") or {})
            merged = {**fake.webhooks[webhook_id], **changes}
            problems = fake._webhook_problems(merged)
            if problems:
                return jsonify({"errors": problems}), 400
            merged["updated_at"] = _iso(datetime.now(UTC))
            fake.webhooks[webhook_id] = merged
            return "", 204

        @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
        def signing_secret(webhook_id: str) -> Response | tuple[Response, int]:
            if webhook_id not in fake.webhooks:
                return jsonify({"errors": [{"code": "WebhookNotFound", "title": "Webhook not found"}]}), 404
            return jsonify({"signing_secret": {"algorithm": "SHA256", "secret": fake.signing_secrets[webhook_id]}})

        return app
