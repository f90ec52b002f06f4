"""A fake Freshdesk that speaks the real API v2 shapes: for the demo, the tests and the benchmarks.

It keeps tickets, contacts, companies, groups, agents and conversations in memory, validates writes the way
Freshdesk does (`{"description": "Validation failed", "errors": [...]}`), can inject failures (429 with
Retry-After, 5xx, slow answers), records every write, and plays the admin's automation rules: each ticket
creation and each saved change renders the rule's "Trigger Webhook" body (placeholders as display names,
`{{triggered_event}}` in Freshdesk's own syntax) and queues it for delivery, our own API changes included.

As in Freshdesk, a rule fires once per save, naming the first of its events that the save matched; a PUT
changing group and priority sends one webhook, not two.
"""

from __future__ import annotations

import base64
import copy
import html
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from escalator.connectors.freshdesk.webhook import DOCUMENTED_BODY, SECRET_HEADER
from escalator.fakedesk.base import Fault, TokenBucket, admit, injected_fault

OWN_AGENT_ID = 900
"""The agent whose API key Escalator uses."""
HUMAN_AGENT_ID = 901
PRIORITY_NAMES = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}
PRIORITY_BY_NAME = {"low": 1, "normal": 2, "medium": 2, "high": 3, "urgent": 4}
BUILT_IN_STATUSES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
UPDATE_RULE_EVENTS = ("status", "priority", "group_id", "responder_id", "ticket_type")
"""The ticket-update rule's property events, in the order Freshdesk checks them."""
INCLUDES = ("conversations", "requester", "company", "stats")
"""What `GET /api/v2/tickets/{id}?include=` accepts."""
TICKET_FIELDS = {"group_id", "responder_id", "priority", "status", "tags", "type", "subject", "custom_fields"}
"""Fields the fake's `PUT /api/v2/tickets/{id}` understands (a subset of Freshdesk's)."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rendered_time(moment: datetime) -> str:
    """How `{{ticket.modified_on}}` renders (a Ruby time's `to_s`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<br\s*/?>|</div>|</p>", "\n", markup))).strip()


FRESHDESK_TICKET_UPDATE = re.compile(r"(PUT /api/v2/tickets/\d+|POST /api/v2/tickets/bulk_update)")
"""Calls under Freshdesk's ticket-update limit; notes and replies count only against the account's."""


def _error(status: int, *errors: tuple[str, str, str]) -> tuple[Response, int]:
    """Freshdesk's validation error shape: (field, message, code) per problem."""
    body = {
        "description": "Validation failed",
        "errors": [{"field": name, "message": message, "code": code} for name, message, code in errors],
    }
    return jsonify(body), status


@dataclass
class FakeFreshdesk:
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
    custom_statuses: dict[int, str] = field(default_factory=lambda: {6: "Waiting on Customer", 7: "Waiting on Vendor"})
    webhook_url: str | None = None
    webhook_secret: str = ""
    webhook_auth: str = "header"
    """How the rule authenticates: "header" (X-Escalator-Secret) or "basic" (the secret as password)."""
    body_template: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DOCUMENTED_BODY))
    """The JSON the admin pasted into the rule's "Trigger Webhook" action."""
    echo: bool = True
    """Fire the rules for Escalator's own API changes too, as Freshdesk does."""
    api_key: str | None = None
    """When set, requests must authenticate with this key (Basic `key:X`); otherwise any Basic auth will do."""

    def __post_init__(self) -> None:
        self.agents: dict[int, dict[str, Any]] = {
            OWN_AGENT_ID: self._agent(OWN_AGENT_ID, "Escalator", "escalator@acme.example"),
            HUMAN_AGENT_ID: self._agent(HUMAN_AGENT_ID, "Alex Agent", "alex@acme.example"),
        }
        self.contacts: dict[int, dict[str, Any]] = {}
        self.companies: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.writes: list[dict[str, Any]] = []
        """Every accepted write: {"ticket_id", "call": "update" | "note" | "reply", **the request body}."""
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.hooks: list[Callable[[str], None]] = []
        """Called with 'METHOD /path' before each request is handled: tests make agents race Escalator."""
        self.buckets: dict[str, TokenBucket] = {}
        """Enforced budgets ("requests", "ticket-updates"), empty unless `enforce_rate_limits()` was called."""
        self.rate_limited: list[tuple[str, str]] = []
        """Every call answered 429 (method, path): a well-behaved client leaves this empty."""
        self._ticket_ids = itertools.count(1)
        self._conversation_ids = itertools.count(7000)
        self._lock = threading.RLock()
        self._server: BaseWSGIServer | None = None
        self._outbox: list[dict[str, Any]] = []
        self.app = self._build_app()

    # --- running -------------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-freshdesk").start()
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

    # --- the admin's, the customers' and the agents' side ------------------------------------------------

    @staticmethod
    def _agent(agent_id: int, name: str, email: str) -> dict[str, Any]:
        return {
            "id": agent_id,
            "available": True,
            "occasional": False,
            "signature": None,
            "ticket_scope": 1,
            "type": "support_agent",
            "created_at": "2025-01-06T09:00:00Z",
            "updated_at": "2025-01-06T09:00:00Z",
            "contact": {"name": name, "email": email, "language": "en", "active": True, "time_zone": "UTC"},
        }

    def add_company(
        self,
        name: str,
        *,
        account_tier: str | None = None,
        health_score: str | None = None,
        custom_fields: dict[str, Any] | None = None,
    ) -> int:
        company_id = 30_000 + len(self.companies)
        self.companies[company_id] = {
            "id": company_id,
            "name": name,
            "description": None,
            "note": None,
            "domains": [],
            "custom_fields": custom_fields or {},
            "health_score": health_score,
            "account_tier": account_tier,
            "renewal_date": None,
            "industry": None,
            "created_at": "2025-01-06T09:00:00Z",
            "updated_at": "2025-01-06T09:00:00Z",
        }
        return company_id

    def add_contact(
        self,
        name: str,
        email: str,
        *,
        language: str = "en",
        company_id: int | None = None,
        tags: list[str] | None = None,
    ) -> int:
        contact_id = 10_000 + len(self.contacts)
        self.contacts[contact_id] = {
            "id": contact_id,
            "name": name,
            "email": email,
            "phone": None,
            "mobile": None,
            "active": True,
            "address": None,
            "company_id": company_id,
            "other_companies": [],
            "description": None,
            "job_title": None,
            "language": language,
            "time_zone": "Eastern Time (US & Canada)",
            "tags": tags or [],
            "custom_fields": {},
            "unique_external_id": None,
            "created_at": "2025-01-06T09:00:00Z",
            "updated_at": "2025-01-06T09:00:00Z",
        }
        return contact_id

    def create_ticket(
        self,
        subject: str,
        description: str,
        requester_id: int,
        *,
        priority: int | str = 1,
        group: str | None = "Tier 1",
        status: int = 2,
        tags: list[str] | None = None,
        source: int = 2,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A customer opens a ticket (through the portal by default); the ticket-creation rule fires."""
        now = at or datetime.now(UTC)
        with self._lock:
            ticket_id = next(self._ticket_ids)
            requester = self.contacts[requester_id]
            ticket: dict[str, Any] = {
                "id": ticket_id,
                "subject": subject,
                "description": f"<div>{html.escape(description)}</div>",
                "description_text": description,
                "status": status,
                "priority": self._priority(priority),
                "source": source,
                "type": None,
                "group_id": self._group_id(group),
                "responder_id": None,
                "requester_id": requester_id,
                "company_id": requester.get("company_id"),
                "product_id": None,
                "email_config_id": None,
                "tags": list(tags or []),
                "cc_emails": [],
                "fwd_emails": [],
                "reply_cc_emails": [],
                "to_emails": None,
                "spam": False,
                "fr_escalated": False,
                "is_escalated": False,
                "nr_escalated": False,
                "custom_fields": {},
                "attachments": [],
                "due_by": iso(now + timedelta(days=3)),
                "fr_due_by": iso(now + timedelta(days=1)),
                "nr_due_by": None,
                "created_at": iso(now),
                "updated_at": iso(now),
            }
            self.tickets[ticket_id] = ticket
            self.conversations[ticket_id] = []
        self._fire(ticket, "{ticket_action:created}", performer=requester_id)
        return ticket

    def customer_reply(self, ticket_id: int, body: str, *, at: datetime | None = None) -> dict[str, Any]:
        """The requester answers by email: an incoming public conversation, `{reply_sent:sent}`."""
        ticket = self.tickets[ticket_id]
        return self._converse(ticket_id, body, private=False, user_id=ticket["requester_id"], incoming=True, at=at)

    def agent_reply(
        self, ticket_id: int, body: str, *, agent_id: int = HUMAN_AGENT_ID, at: datetime | None = None
    ) -> dict[str, Any]:
        return self._converse(ticket_id, body, private=False, user_id=agent_id, incoming=False, source=0, at=at)

    def agent_note(
        self,
        ticket_id: int,
        body: str,
        *,
        private: bool = True,
        agent_id: int = HUMAN_AGENT_ID,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        return self._converse(ticket_id, body, private=private, user_id=agent_id, incoming=False, source=2, at=at)

    def agent_update(self, ticket_id: int, *, agent_id: int = HUMAN_AGENT_ID, **changes: Any) -> dict[str, Any]:
        """An agent changes fields in the Freshdesk UI (moves updated_at, fires the update rule)."""
        return self._update(ticket_id, changes, performer=agent_id)

    # --- helpers -----------------------------------------------------------------------------------------

    def _group_id(self, group: str | None) -> int | None:
        return next((gid for gid, name in self.groups.items() if name == group), None)

    @staticmethod
    def _priority(value: int | str) -> int:
        return value if isinstance(value, int) else PRIORITY_BY_NAME[value.lower()]

    def status_name(self, status: int) -> str:
        return BUILT_IN_STATUSES.get(status) or self.custom_statuses.get(status) or str(status)

    def _statuses(self) -> set[int]:
        return set(BUILT_IN_STATUSES) | set(self.custom_statuses)

    @staticmethod
    def _bump(ticket: dict[str, Any], now: datetime) -> str:
        # updated_at has whole seconds, as Freshdesk's; make each change visible to the conflict check anyway.
        previous = datetime.fromisoformat(ticket["updated_at"].replace("Z", "+00:00"))
        return iso(max(now, previous + timedelta(seconds=1)))

    def _converse(
        self,
        ticket_id: int,
        body: str,
        *,
        private: bool,
        user_id: int,
        incoming: bool,
        source: int = 0,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A conversation lands: a reply (source 0) or a note (source 2); the update rule fires."""
        now = at or datetime.now(UTC)
        markup = body if body.lstrip().startswith("<") else f"<div>{html.escape(body)}</div>"
        with self._lock:
            ticket = self.tickets[ticket_id]
            conversation = {
                "id": next(self._conversation_ids),
                "body": markup,
                "body_text": _text(markup),
                "incoming": incoming,
                "private": private,
                "user_id": user_id,
                "support_email": None,
                "source": source,
                "category": 2 if incoming else 3,
                "ticket_id": ticket_id,
                "to_emails": [] if private else [self.contacts[ticket["requester_id"]]["email"]],
                "from_email": None,
                "cc_emails": [],
                "bcc_emails": [],
                "created_at": iso(now),
                "updated_at": iso(now),
                "attachments": [],
            }
            self.conversations[ticket_id].append(conversation)
            # A note or reply moves the ticket's updated_at to its own time (Freshdesk's `update_parent`).
            ticket["updated_at"] = self._bump(ticket, now)
            conversation["created_at"] = conversation["updated_at"] = ticket["updated_at"]
        # A note is `note_type`; a reply (an agent's or a customer's) is `reply_sent`.
        event = "{reply_sent:sent}" if source == 0 else f"{{note_type:{'private' if private else 'public'}}}"
        self._fire(ticket, event, performer=user_id)
        return conversation

    def _update(self, ticket_id: int, changes: Mapping[str, Any], performer: int) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self._lock:
            ticket = self.tickets[ticket_id]
            changed: dict[str, tuple[Any, Any]] = {}
            for key, value in changes.items():
                api_key = "ticket_type" if key == "type" else key
                if ticket.get(key) != value:
                    changed[api_key] = (ticket.get(key), value)
                    ticket[key] = list(value) if key == "tags" else value
            if changed:
                ticket["updated_at"] = self._bump(ticket, now)
        first = next((name for name in UPDATE_RULE_EVENTS if name in changed), None)
        if first is not None:
            before, after = changed[first]
            self._fire(ticket, f"{{{first}:{{from:{_event_value(before)},to:{_event_value(after)}}}}}", performer)
        return ticket

    # --- the automation rules' webhooks ----------------------------------------------------------------------

    def render(self, ticket: Mapping[str, Any], triggered_event: str, performer: int) -> dict[str, Any]:
        """The rule's body with its placeholders rendered as Freshdesk renders them (strings, display names)."""
        latest_public = next(
            (c["body"] for c in reversed(self.conversations.get(ticket["id"], [])) if not c["private"]), ""
        )
        requester = self.contacts.get(ticket["requester_id"], {})
        agent = self.agents.get(ticket.get("responder_id") or 0, {}).get("contact", {})
        doer = self.agents.get(performer, {}).get("contact") or self.contacts.get(performer, {})
        context = {
            "ticket.id": str(ticket["id"]),
            "ticket.subject": ticket["subject"],
            "ticket.description": ticket["description"],
            "ticket.status": self.status_name(ticket["status"]),
            "ticket.priority": PRIORITY_NAMES[ticket["priority"]],
            "ticket.tags": ", ".join(ticket["tags"]),
            "ticket.modified_on": rendered_time(datetime.fromisoformat(ticket["updated_at"].replace("Z", "+00:00"))),
            "ticket.latest_public_comment": latest_public,
            "ticket.requester.name": requester.get("name", ""),
            "ticket.requester.email": requester.get("email", ""),
            "ticket.group.name": self.groups.get(ticket.get("group_id") or 0, ""),
            "ticket.agent.name": agent.get("name", ""),
            "ticket.agent.email": agent.get("email", ""),
            "event_performer.id": str(performer),
            "event_performer.name": doer.get("name", ""),
            "event_performer.email": doer.get("email", ""),
            "triggered_event": triggered_event,
        }

        def fill(value: Any) -> Any:
            if isinstance(value, str):
                # Unknown placeholders render empty, as in Freshdesk.
                return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda match: context.get(match[1], ""), value)
            if isinstance(value, dict):
                return {key: fill(item) for key, item in value.items()}
            return value

        rendered: dict[str, Any] = fill(self.body_template)
        return rendered

    def _fire(self, ticket: Mapping[str, Any], triggered_event: str, performer: int) -> None:
        if self.webhook_url is None or (performer == OWN_AGENT_ID and not self.echo):
            return
        self._outbox.append(self.render(ticket, triggered_event, performer))

    def pending_webhooks(self) -> list[dict[str, Any]]:
        return list(self._outbox)

    def clear_webhooks(self) -> None:
        self._outbox.clear()

    def webhook_headers(self, secret: str | None = None) -> dict[str, str]:
        """What the rule's "Trigger Webhook" action sends: JSON, plus the secret as configured."""
        secret = self.webhook_secret if secret is None else secret
        headers = {"Content-Type": "application/json"}
        if self.webhook_auth == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(f"freshdesk:{secret}".encode()).decode()
        else:
            headers[SECRET_HEADER] = secret
        return headers

    def deliver(self, payload: dict[str, Any], post: Callable[..., Any] = requests.post) -> int:
        assert self.webhook_url is not None
        body = json.dumps(payload).encode()
        return int(post(self.webhook_url, data=body, headers=self.webhook_headers(), timeout=10).status_code)

    def flush_webhooks(self, post: Callable[..., Any] = requests.post) -> list[int]:
        """Deliver queued webhooks; returns the HTTP statuses. Kept explicit so tests control timing."""
        statuses = []
        while self._outbox:
            statuses.append(self.deliver(self._outbox.pop(0), post=post))
        return statuses

    # --- rate limits ---------------------------------------------------------------------------------------

    def enforce_rate_limits(
        self,
        requests_per_period: int | None = 200,
        ticket_updates_per_period: int | None = 80,
        *,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Enforce the plan's budgets as token buckets (Growth: 200 calls and 80 ticket updates a minute,
        bursts up to the budget); a shorter `period` scales the minute down for tests."""
        self.buckets = {}
        if requests_per_period is not None:
            self.buckets["requests"] = TokenBucket(requests_per_period, period, clock)
        if ticket_updates_per_period is not None:
            self.buckets["ticket-updates"] = TokenBucket(ticket_updates_per_period, period, clock)

    def _spend(self) -> Response | None:
        """Take a token from each budget the call draws on, or answer 429 with Retry-After and take none."""
        if not self.buckets:
            return None
        line = f"{request.method} {request.path}"
        names = ["requests", "ticket-updates"] if FRESHDESK_TICKET_UPDATE.fullmatch(line) else ["requests"]
        with self._lock:
            wait = admit([self.buckets[name] for name in names if name in self.buckets])
            if wait > 0:
                self.rate_limited.append((request.method, request.path))
                response = jsonify({"code": "rate_limit_exceeded", "message": "You have exceeded the limit"})
                response.status_code = 429
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
        return None

    def _rate_headers(self, response: Response) -> Response:
        account = self.buckets.get("requests")
        if account is not None:
            with self._lock:
                response.headers["X-RateLimit-Total"] = str(account.limit)
                response.headers["X-RateLimit-Remaining"] = str(account.remaining())
                response.headers["X-RateLimit-Used-CurrentRequest"] = "1"
        return response

    # --- the REST API --------------------------------------------------------------------------------------

    def _fault(self) -> Response | None:
        return injected_fault(
            self.faults,
            f"{request.method} {request.path}",
            lambda status: {"code": "injected", "message": f"injected {status}"},
        )

    def stats(self, ticket: Mapping[str, Any]) -> dict[str, Any]:
        """`include=stats`: when agents first and last answered publicly, and when the requester last did."""
        conversations = self.conversations.get(ticket["id"], [])
        replies = [c["created_at"] for c in conversations if not c["incoming"] and not c["private"]]
        requester = [c["created_at"] for c in conversations if c["incoming"]]
        return {
            "agent_responded_at": replies[-1] if replies else None,
            "requester_responded_at": requester[-1] if requester else None,
            "first_responded_at": replies[0] if replies else None,
            "status_updated_at": ticket["updated_at"],
            "reopened_at": None,
            "resolved_at": ticket["updated_at"] if ticket["status"] == 4 else None,
            "closed_at": ticket["updated_at"] if ticket["status"] == 5 else None,
            "pending_since": ticket["updated_at"] if ticket["status"] == 3 else None,
        }

    def _list_tickets(self) -> Response | tuple[Response, int]:
        """`GET /api/v2/tickets`: by default the last 30 days' tickets, newest created first; `updated_since`,
        `order_by` (created_at, updated_at, due_by, status), `order_type`, `per_page` (<= 100), `page` (<= 300),
        `include` (requester, stats, description); deleted and spam tickets are not listed."""
        order_by = request.args.get("order_by", "created_at")
        order_type = request.args.get("order_type", "desc")
        if order_by not in ("created_at", "updated_at", "due_by", "status") or order_type not in ("asc", "desc"):
            return _error(
                400,
                (
                    "order_by",
                    "It should be one of these values: 'created_at,due_by,updated_at,status'",
                    "invalid_value",
                ),
            )
        page = int(request.args.get("page", 1))
        if page > 300:
            return _error(400, ("page", "You cannot access pages beyond 300", "invalid_value"))
        include = [item for item in request.args.get("include", "").split(",") if item]
        if any(item not in ("requester", "stats", "description") for item in include):
            return _error(
                400,
                (
                    "include",
                    "It should be one/a comma separated list of 'requester, stats, description'",
                    "invalid_value",
                ),
            )
        since_text = request.args.get("updated_since")
        per_page = min(100, max(1, int(request.args.get("per_page", 30))))
        # Times are all `%Y-%m-%dT%H:%M:%SZ`, so comparing the text compares the instants.
        if since_text:
            field, floor = "updated_at", iso(datetime.fromisoformat(since_text.replace("Z", "+00:00")))
        else:
            field, floor = "created_at", iso(datetime.now(UTC) - timedelta(days=30))
        with self._lock:
            tickets = [
                t for t in self.tickets.values() if not t.get("spam") and not t.get("deleted") and t[field] >= floor
            ]
            tickets.sort(key=lambda t: (t[order_by] or "", t["id"]), reverse=order_type == "desc")
            items = []
            for ticket in tickets[(page - 1) * per_page : page * per_page]:
                item = {key: value for key, value in ticket.items() if key not in ("description", "description_text")}
                if "description" in include:
                    item["description"], item["description_text"] = ticket["description"], ticket["description_text"]
                if "stats" in include:
                    item["stats"] = self.stats(ticket)
                if "requester" in include:
                    requester = self.contacts.get(ticket["requester_id"], {})
                    item["requester"] = {key: requester.get(key) for key in ("id", "name", "email", "mobile", "phone")}
                items.append(item)
        return jsonify(items)

    def _authenticated(self) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, _password = base64.b64decode(credentials).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return self.api_key is None or user == self.api_key

    def _page(self, items: list[Any]) -> Response:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(100, max(1, int(request.args.get("per_page", 30))))
        return jsonify(items[(page - 1) * per_page : page * per_page])

    def _build_app(self) -> Flask:
        app = Flask("fake-freshdesk")
        fake = self

        @app.before_request
        def _before() -> Response | tuple[Response, int] | None:
            fake.requests.append((request.method, request.full_path.rstrip("?")))
            for hook in list(fake.hooks):
                hook(f"{request.method} {request.path}")
            if not fake._authenticated():
                return jsonify({"code": "invalid_credentials", "message": "You have to be logged in."}), 401
            return fake._spend() or fake._fault()

        @app.after_request
        def _after(response: Response) -> Response:
            return fake._rate_headers(response)

        @app.get("/api/v2/agents/me")
        def me() -> Response:
            return jsonify(fake.agents[OWN_AGENT_ID])

        @app.get("/api/v2/agents")
        def agents() -> Response:
            email = request.args.get("email")
            found = [a for a in fake.agents.values() if email is None or a["contact"]["email"] == email]
            return fake._page(found)

        @app.get("/api/v2/groups")
        def groups() -> Response:
            items = [
                {"id": gid, "name": name, "description": None, "escalate_to": None, "unassigned_for": None}
                for gid, name in sorted(fake.groups.items())
            ]
            return fake._page(items)

        @app.get("/api/v2/tickets")
        def list_tickets() -> Response | tuple[Response, int]:
            return fake._list_tickets()

        @app.get("/api/v2/contacts/<int:contact_id>")
        def contact(contact_id: int) -> Response | tuple[str, int]:
            found = fake.contacts.get(contact_id)
            return jsonify(found) if found else ("", 404)

        @app.get("/api/v2/companies/<int:company_id>")
        def company(company_id: int) -> Response | tuple[str, int]:
            found = fake.companies.get(company_id)
            return jsonify(found) if found else ("", 404)

        @app.get("/api/v2/tickets/<int:ticket_id>")
        def show(ticket_id: int) -> Response | tuple[Response, int] | tuple[str, int]:
            ticket = fake.tickets.get(ticket_id)
            if ticket is None:
                return "", 404
            include = [item for item in request.args.get("include", "").split(",") if item]
            unknown = [item for item in include if item not in INCLUDES]
            if unknown:
                return _error(
                    400,
                    ("include", f"It should be one/a comma separated list of '{', '.join(INCLUDES)}'", "invalid_value"),
                )
            body = dict(ticket)
            if "requester" in include:
                requester = fake.contacts.get(ticket["requester_id"], {})
                body["requester"] = {key: requester.get(key) for key in ("id", "name", "email", "mobile", "phone")}
            if "company" in include and ticket.get("company_id") in fake.companies:
                body["company"] = {key: fake.companies[ticket["company_id"]][key] for key in ("id", "name")}
            if "conversations" in include:
                body["conversations"] = fake.conversations.get(ticket_id, [])[:10]
            if "stats" in include:
                body["stats"] = fake.stats(ticket)
            return jsonify(body)

        @app.put("/api/v2/tickets/<int:ticket_id>")
        def update(ticket_id: int) -> Response | tuple[Response, int] | tuple[str, int]:
            ticket = fake.tickets.get(ticket_id)
            if ticket is None:
                return "", 404
            changes = request.get_json(silent=True)
            if not isinstance(changes, dict) or not changes:
                return _error(400, ("", "Request body is empty or not JSON", "invalid_json"))
            problems = fake._validate(changes)
            if problems:
                return _error(400, *problems)
            fake.writes.append({"ticket_id": ticket_id, "call": "update", **changes})
            return jsonify(fake._update(ticket_id, changes, performer=OWN_AGENT_ID))

        @app.post("/api/v2/tickets/<int:ticket_id>/notes")
        def note(ticket_id: int) -> tuple[Response, int] | tuple[str, int]:
            return fake._api_conversation(ticket_id, "note")

        @app.post("/api/v2/tickets/<int:ticket_id>/reply")
        def reply(ticket_id: int) -> tuple[Response, int] | tuple[str, int]:
            return fake._api_conversation(ticket_id, "reply")

        @app.get("/api/v2/tickets/<int:ticket_id>/conversations")
        def conversations(ticket_id: int) -> Response | tuple[str, int]:
            if ticket_id not in fake.tickets:
                return "", 404
            return fake._page(fake.conversations.get(ticket_id, []))

        return app

    def _validate(self, changes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        problems: list[tuple[str, str, str]] = []
        for name in changes:
            if name not in TICKET_FIELDS:
                problems.append((name, "Unexpected/invalid field in request", "invalid_field"))
        if "group_id" in changes and changes["group_id"] is not None and changes["group_id"] not in self.groups:
            problems.append(("group_id", "There is no group matching the given group_id", "invalid_value"))
        if (
            "responder_id" in changes
            and changes["responder_id"] is not None
            and changes["responder_id"] not in self.agents
        ):
            problems.append(("responder_id", "There is no agent matching the given responder_id", "invalid_value"))
        if "priority" in changes and changes["priority"] not in PRIORITY_NAMES:
            problems.append(("priority", "It should be one of these values: '1,2,3,4'", "invalid_value"))
        if "status" in changes and changes["status"] not in self._statuses():
            problems.append(("status", "It should be one of the ticket statuses", "invalid_value"))
        tags = changes.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            problems.append(("tags", "It should be an Array of Strings", "datatype_mismatch"))
        return problems

    def _api_conversation(self, ticket_id: int, kind: str) -> tuple[Response, int] | tuple[str, int]:
        if ticket_id not in self.tickets:
            return "", 404
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("body"), str) or not payload["body"]:
            return _error(400, ("body", "It should be a/an String", "missing_field"))
        self.writes.append({"ticket_id": ticket_id, "call": kind, **payload})
        if kind == "note":
            stored = self._converse(
                ticket_id,
                payload["body"],
                private=bool(payload.get("private", True)),
                user_id=OWN_AGENT_ID,
                incoming=False,
                source=2,
            )
        else:
            stored = self._converse(ticket_id, payload["body"], private=False, user_id=OWN_AGENT_ID, incoming=False)
        return jsonify(stored), 201


def _event_value(value: Any) -> str:
    """How `{{triggered_event}}` renders a value: bare, with nil as `null`."""
    return "null" if value is None else str(value)
