"""The fake Freshdesk's records and what happens to them: contacts, companies, tickets, conversations.

Every change goes through `_new_ticket`, `_update` or `_converse`, which move `updated_at` and then play the
account's automation rules for what the save did (`automations.py`): the admin's stored rules when the
account has some, else the one rule the fake is configured with (`webhook_url`, `body_template`). The HTTP
side lives in `api.py` and `automations.py`.
"""

from __future__ import annotations

import base64
import copy
import html
import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

from escalator.connectors.freshdesk.webhook import DOCUMENTED_BODY, SECRET_HEADER
from escalator.fakedesk.base import FakeDesk, answer, iso
from escalator.fakedesk.freshdesk import api, automations
from escalator.fakedesk.freshdesk.account import (
    BUILT_IN_STATUSES,
    FRESHDESK_TICKET_UPDATE,
    HUMAN_AGENT_ID,
    OWN_AGENT_ID,
    PRIORITY_BY_NAME,
    RELATED,
    TRACKER,
    UPDATE_RULE_EVENTS,
)
from escalator.fakedesk.freshdesk.automations import CREATION, UPDATES, Happening
from escalator.fakedesk.freshdesk.records import agent_record, company_record, contact_record, html_text, ticket_record


def _event_value(value: Any) -> str:
    """How `{{triggered_event}}` renders a value: bare, with nil as `null`."""
    return "null" if value is None else str(value)


def _property_event(name: str, before: Any, after: Any) -> Happening:
    """A changed property as the update rule sees it: `{status:{from:2,to:3}}`."""
    return Happening(name, f"{{{name}:{{from:{_event_value(before)},to:{_event_value(after)}}}}}", before, after)


@dataclass
class FakeFreshdesk(FakeDesk):
    """A fake Freshdesk that speaks the real API v2 shapes: for the demo, the tests and the benchmarks.

    It keeps tickets, contacts, companies, groups, agents, conversations and automation rules in memory,
    validates writes the way Freshdesk does (`{"description": "Validation failed", "errors": [...]}`), can
    inject failures (429 with Retry-After, 5xx, slow answers, dropped connections), records every write, and
    plays the admin's automation rules: each ticket creation and each saved change renders the rule's
    "Trigger Webhook" body (placeholders as display names, `{{triggered_event}}` in Freshdesk's own syntax)
    and queues it for delivery, our own API changes included.

    As in Freshdesk, a rule fires once per save, naming the first of its events that the save matched; a PUT
    changing group and priority sends one webhook, not two.

    `writes` records {"ticket_id", "call": "create" | "update" | "note" | "reply" | "bulk_update", **the request
    body} per accepted write; a bulk update records one per ticket, with the "job_id".
    """

    custom_statuses: dict[int, str] = field(default_factory=lambda: {6: "Waiting on Customer", 7: "Waiting on Vendor"})
    webhook_auth: str = "header"
    """How the rule authenticates: "header" (X-Escalator-Secret) or "basic" (the secret as password)."""
    body_template: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DOCUMENTED_BODY))
    """The JSON the admin pasted into the rule's "Trigger Webhook" action."""
    api_key: str | None = None
    """When set, requests must authenticate with this key (Basic `key:X`); otherwise any Basic auth will do."""

    NAME = "fake-freshdesk"
    TICKET_UPDATE = FRESHDESK_TICKET_UPDATE
    UPDATE_BUCKET = "ticket-updates"

    def _setup(self) -> None:
        self.agents: dict[int, dict[str, Any]] = {
            OWN_AGENT_ID: agent_record(OWN_AGENT_ID, "Escalator", "escalator@acme.example"),
            HUMAN_AGENT_ID: agent_record(HUMAN_AGENT_ID, "Alex Agent", "alex@acme.example"),
        }
        self.contacts: dict[int, dict[str, Any]] = {}
        self.companies: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.automations: dict[int, dict[int, dict[str, Any]]] = {kind: {} for kind in automations.TYPES}
        """The admin's automation rules by automation type (1 creation, 3 time triggers, 4 updates), by id."""
        self._ticket_ids = itertools.count(1)
        self._conversation_ids = itertools.count(7000)
        self._rule_ids = itertools.count(1)

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
        self._enforce(requests_per_period, ticket_updates_per_period, period, clock)

    # --- the admin's, the customers' and the agents' side ------------------------------------------------

    def add_company(
        self,
        name: str,
        *,
        account_tier: str | None = None,
        health_score: str | None = None,
        custom_fields: dict[str, Any] | None = None,
    ) -> int:
        company_id = 30_000 + len(self.companies)
        self.companies[company_id] = company_record(company_id, name, account_tier, health_score, custom_fields or {})
        return company_id

    def add_contact(
        self,
        name: str,
        email: str,
        *,
        language: str = "en",
        company_id: int | None = None,
        tags: list[str] | None = None,
        time_zone: str = "Eastern Time (US & Canada)",
    ) -> int:
        """A contact; `language` is a Freshdesk language code, `time_zone` a Freshdesk (Rails) zone name."""
        contact_id = 10_000 + len(self.contacts)
        self.contacts[contact_id] = contact_record(contact_id, name, email, language, company_id, tags or [], time_zone)
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
        self.contacts[requester_id]  # a customer is a contact
        fields = {"subject": subject, "priority": self._priority(priority), "group_id": self._group_id(group)}
        fields.update(status=status, tags=list(tags or []), source=source)
        markup = f"<div>{html.escape(description)}</div>"
        return self._new_ticket(fields, (markup, description), requester_id, performer=requester_id, at=at)

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

    # --- records -------------------------------------------------------------------------------------------

    @staticmethod
    def _priority(value: int | str) -> int:
        return value if isinstance(value, int) else PRIORITY_BY_NAME[value.lower()]

    def status_name(self, status: int) -> str:
        return automations.status_name(self, status)

    def _statuses(self) -> set[int]:
        return set(BUILT_IN_STATUSES) | set(self.custom_statuses)

    def person(self, user_id: int) -> dict[str, Any]:
        """A requester or performer as a contact: a contact, or an agent's contact record (trackers have agent
        requesters), or {} for someone unknown."""
        found = self.contacts.get(user_id) or self.agents.get(user_id, {}).get("contact")
        return {"id": user_id, **found} if found else {}

    # --- changes -------------------------------------------------------------------------------------------

    def _new_ticket(
        self,
        fields: dict[str, Any],
        description: tuple[str, str],
        requester_id: int,
        *,
        performer: int,
        related: list[int] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Open a ticket with its `description` (HTML and text; a tracker when `related` lists the tickets it
        tracks); the ticket-creation rule fires."""
        now = at or datetime.now(UTC)
        with self._lock:
            ticket_id = next(self._ticket_ids)
            company_id = self.person(requester_id).get("company_id")
            ticket = ticket_record(ticket_id, fields, description, requester_id, company_id, now)
            self.tickets[ticket_id] = ticket
            self.conversations[ticket_id] = []
            if related:
                self._track(ticket, related, now)
        self._fire(
            ticket, [Happening("ticket_action", "{ticket_action:created}", after="created")], performer, CREATION
        )
        return ticket

    def _track(self, tracker: dict[str, Any], related: list[int], now: datetime) -> None:
        """Link a new tracker and the tickets it tracks, as Freshdesk shows them: `association_type` 3 and 4,
        each side listing the other in `associated_tickets_list`."""
        tracker.update(association_type=TRACKER, associated_tickets_list=list(related))
        for ticket_id in related:
            ticket = self.tickets[ticket_id]
            ticket.update(association_type=RELATED, associated_tickets_list=[tracker["id"]])
            ticket["updated_at"] = self._bump(ticket, now)

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
        notify_emails: list[str] | None = None,
    ) -> dict[str, Any]:
        """A conversation lands: a reply (source 0) or a note (source 2); the update rule fires. A note's
        `notify_emails` are kept as Freshdesk answers them, in `notified_to`."""
        now = at or datetime.now(UTC)
        markup = body if body.lstrip().startswith("<") else f"<div>{html.escape(body)}</div>"
        with self._lock:
            ticket = self.tickets[ticket_id]
            conversation = {
                "id": next(self._conversation_ids),
                "body": markup,
                "body_text": html_text(markup),
                "incoming": incoming,
                "private": private,
                "user_id": user_id,
                "support_email": None,
                "source": source,
                "category": 2 if incoming else 3,
                "ticket_id": ticket_id,
                "to_emails": [] if private else [self.person(ticket["requester_id"]).get("email")],
                "from_email": None,
                "cc_emails": [],
                "bcc_emails": [],
                "created_at": iso(now),
                "updated_at": iso(now),
                "attachments": [],
                **({"notified_to": list(notify_emails)} if notify_emails else {}),
            }
            self.conversations[ticket_id].append(conversation)
            # A note or reply moves the ticket's updated_at to its own time (Freshdesk's `update_parent`).
            ticket["updated_at"] = self._bump(ticket, now)
            conversation["created_at"] = conversation["updated_at"] = ticket["updated_at"]
        # A note is `note_type`; a reply (an agent's or a customer's) is `reply_sent`.
        kind = "private" if private else "public"
        happening = Happening("reply_sent", "{reply_sent:sent}", after="sent")
        if source != 0:
            happening = Happening("note_type", f"{{note_type:{kind}}}", after=kind)
        self._fire(ticket, [happening], performer=user_id)
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
        self._fire(
            ticket, [_property_event(name, *changed[name]) for name in UPDATE_RULE_EVENTS if name in changed], performer
        )
        return ticket

    def _fire(
        self, ticket: Mapping[str, Any], happenings: list[Happening], performer: int, kind: int = UPDATES
    ) -> None:
        """Queue the webhooks the account's rules of automation type `kind` send for what a save did."""
        if not happenings or (performer == OWN_AGENT_ID and not self.echo):
            return
        self._outbox.extend(automations.deliveries(self, ticket, happenings, performer, kind))

    # --- the automation rules' webhooks ----------------------------------------------------------------------

    def render(self, ticket: Mapping[str, Any], triggered_event: str, performer: int) -> dict[str, Any]:
        """The rule's body with its placeholders rendered as Freshdesk renders them (strings, display names)."""
        context = automations.context(self, ticket, triggered_event, performer)
        rendered: dict[str, Any] = automations.fill(self.body_template, context)
        return rendered

    def webhook_headers(self, secret: str | None = None) -> dict[str, str]:
        """What the rule's "Trigger Webhook" action sends: JSON, plus the secret as configured."""
        secret = self.webhook_secret if secret is None else secret
        headers = {"Content-Type": "application/json"}
        if self.webhook_auth == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(f"freshdesk:{secret}".encode()).decode()
        else:
            headers[SECRET_HEADER] = secret
        return headers

    def _webhook_headers(self, body: bytes) -> dict[str, str]:
        return self.webhook_headers()

    # --- the request pipeline's Freshdesk side -------------------------------------------------------------

    def _add_routes(self, app: Flask) -> None:
        api.add_routes(app, self)
        automations.add_routes(app, self)

    def _authenticated(self) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, _password = base64.b64decode(credentials).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return self.api_key is None or user == self.api_key

    def _unauthenticated(self) -> Response:
        return answer({"code": "invalid_credentials", "message": "You have to be logged in."}, 401)

    def _error_body(self, status: int) -> dict[str, Any]:
        return {"code": "injected", "message": f"injected {status}"}

    def _too_many(self, wait: float, line: str) -> Response:
        response = answer({"code": "rate_limit_exceeded", "message": "You have exceeded the limit"}, 429)
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response

    def _rate_headers(self, response: Response, line: str) -> Response:
        account = self.buckets.get("requests")
        if account is not None:
            with self._lock:
                response.headers["X-RateLimit-Total"] = str(account.limit)
                response.headers["X-RateLimit-Remaining"] = str(account.remaining())
                response.headers["X-RateLimit-Used-CurrentRequest"] = "1"
        return response
