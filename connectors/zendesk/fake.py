"""A fake Zendesk that speaks the real API shapes: for the demo, the tests and the benchmarks.

It keeps tickets, users, organizations, groups and comments in memory, enforces `safe_update` (409), takes
one comment per update, can inject failures (429 with Retry-After, 5xx, slow answers) and can send signed
event-subscription webhooks for what happens to its tickets, including Escalator's own updates (echoes).

`enforce_rate_limits()` turns on Zendesk's budgets as token buckets (the account's requests, the Update
Ticket endpoint): a call finding either empty answers 429 + Retry-After and spends nothing; every answer
carries the rate-limit headers Zendesk sends.
"""

from __future__ import annotations

import itertools
import json
import math
import re
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

from connectors.zendesk.webhook import INVOCATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

OWN_USER_ID = 900
"""The integration user Escalator authenticates as."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: float | None = None
    delay: float = 0.0


TICKET_UPDATE = re.compile(r"PUT /api/v2/tickets/(\d+|update_many)(\.json)?")
"""Calls the fake counts against the Update Ticket limit."""


class TokenBucket:
    """`limit` calls per `period` seconds, bursts of up to `limit`: the budget a rate-limited fake enforces."""

    def __init__(self, limit: int, period: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.period = period
        self.clock = clock
        self.tokens = float(limit)
        self._at = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.limit), self.tokens + (now - self._at) * self.limit / self.period)
        self._at = now

    def wait(self) -> float:
        """Seconds until one call fits (0 when it fits now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) * self.period / self.limit

    def take(self, count: float = 1.0) -> None:
        self._refill()
        self.tokens -= count

    def remaining(self) -> int:
        self._refill()
        return max(0, math.floor(self.tokens))

    def resets(self) -> int:
        """Seconds until the bucket is full again: the token bucket's "window reset"."""
        self._refill()
        return math.ceil((self.limit - self.tokens) * self.period / self.limit)


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
            wait = max((bucket.wait() for bucket in buckets), default=0.0)
            if wait > 0:
                self.rate_limited.append((request.method, request.path))
                response = jsonify({"error": "APIRateLimitExceeded", "description": f"Rate limit exceeded: {line}"})
                response.status_code = 429
                response.headers["Retry-After"] = f"{math.ceil(wait * 1000) / 1000:g}"
                return response
            for bucket in buckets:
                bucket.take()
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
        line = f"{request.method} {request.path}"
        for fault in self.faults:
            if fault.times > 0 and fault.pattern.search(line):
                fault.times -= 1
                if fault.delay:
                    time.sleep(fault.delay)
                response = jsonify({"error": "Injected", "description": f"injected {fault.status}"})
                response.status_code = fault.status
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = str(fault.retry_after)
                return response
        return None

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

        return app
