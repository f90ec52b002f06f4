"""Freshdesk REST API v2: read tickets back, resolve group names, and write a plan in as few calls as allowed.

A plan costs one `PUT /api/v2/tickets/{id}` for all fields (group, agent, priority, tags) plus one call per
comment: `POST /tickets/{id}/reply` for a public reply, `POST /tickets/{id}/notes` (`private: true`) for an
internal note. Freshdesk takes no comment in a ticket update, so this is the minimum.

Freshdesk has no `safe_update`: a PUT always wins. Before a PUT the ticket is read once more and its
`updated_at` compared with the one the decision was made on; a difference raises ConflictError, and the worker
re-reads and re-decides, as it does after a Zendesk 409. What remains is the window of one round trip
between that read and the PUT (and `updated_at` has whole seconds), which Freshdesk offers no way to close.
Notes and replies are appends, so they need no such check; the ledger keeps them from being sent twice.
"""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from escalator.connectors.base import CommentLedger
from escalator.connectors.comments import unsent_comments
from escalator.connectors.errors import ConflictError, PermanentError
from escalator.connectors.freshdesk import values
from escalator.connectors.groups import resolve_group
from escalator.connectors.http import VendorHttp
from escalator.connectors.timezones import iana_zone
from escalator.rules.model import Comment, Organization, Person, Ticket, parse_instant
from escalator.rules.plan import Plan, PlannedComment

DIRECTORY_CACHE_SECONDS = 300.0
"""Groups, agents, contacts and companies rarely change; five minutes keeps lookups off the rate limit
without going stale for long."""
PER_PAGE = 100
"""Freshdesk's largest page; a page with fewer items is the last one."""
MAX_PAGES = 50
"""A bound on paging, so a misbehaving server cannot keep a worker busy forever."""
RECENT_CONVERSATIONS = 30
"""How far back an unanswered send is looked for: it would be among the newest conversations."""
COMPANY_FIELDS = ("account_tier", "health_score", "renewal_date", "industry")
"""Default company fields, offered to rules as `organization.fields.<name>` next to the custom ones."""
CHANNELS = {1: "email", 2: "web", 3: "voice", 4: "forum", 5: "twitter", 6: "facebook", 7: "chat", 8: "mobihelp"}
CHANNELS.update({9: "feedback_widget", 10: "email"})
"""Ticket `source` -> channel; names shared with Zendesk where there is an equivalent (portal = web)."""


def auth_headers(auth: Mapping[str, str]) -> dict[str, str]:
    """Freshdesk API keys go as Basic auth with the key as user name and `X` as password."""
    if not auth.get("api_key"):
        raise ValueError("Freshdesk auth needs {api_key}")
    return {"Authorization": "Basic " + base64.b64encode(f"{auth['api_key']}:X".encode()).decode()}


_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6])\s*/?\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def plain_text(markup: str) -> str:
    """Freshdesk bodies are HTML; rules and templates read text."""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", markup))).strip()


def to_html(text: str) -> str:
    """Our templates render text; Freshdesk shows HTML, so escape it and keep the line breaks."""
    return "<div>" + "<br>".join(html.escape(line, quote=False) for line in text.split("\n")) + "</div>"


class _Directory:
    """A small time-limited cache of lookups by key."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        cached = self.items.get(key)
        if cached is None or self.clock() - cached[0] > DIRECTORY_CACHE_SECONDS:
            cached = (self.clock(), load())
            self.items[key] = cached
        return cached[1]


class FreshdeskClient:
    def __init__(
        self,
        http: VendorHttp,
        *,
        statuses: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.statuses = dict(statuses or {})
        """The tenant's custom status id -> common status (`freshdesk.statuses` in the configuration)."""
        self.clock = clock
        self._own_id: str | None = None
        self._groups: dict[str, str] = {}  # id -> name
        self._groups_at = 0.0
        self._contacts = _Directory(clock)
        self._companies = _Directory(clock)
        self._agents = _Directory(clock)

    # --- reads -----------------------------------------------------------------------------------------

    def own_user_id(self) -> str:
        """The API key's agent: the `user_id` on every note and reply Escalator writes."""
        if self._own_id is None:
            self._own_id = str(self.http.request("GET", "/api/v2/agents/me")["id"])
        return self._own_id

    def _pages(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list (Freshdesk pages by `page`/`per_page`; a short page is the last)."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            chunk = self.http.request("GET", path, params={**(params or {}), "page": page, "per_page": PER_PAGE})
            if not isinstance(chunk, list):
                raise PermanentError(f"GET {path}: expected a list, got {type(chunk).__name__}")
            items.extend(chunk)
            if len(chunk) < PER_PAGE:
                break
        return items

    def groups(self, refresh: bool = False) -> dict[str, str]:
        """Group id -> name, cached."""
        if refresh or not self._groups or self.clock() - self._groups_at > DIRECTORY_CACHE_SECONDS:
            self._groups = {str(group["id"]): str(group["name"]) for group in self._pages("/api/v2/groups")}
            self._groups_at = self.clock()
        return self._groups

    def group_id(self, group: str | int) -> str:
        """A tier's group, named or by id, as a Freshdesk group id; unknown names are a clear error."""
        return resolve_group(group, self.groups, "Freshdesk")

    def agent_id(self, agent: str) -> str:
        """An `assign` target, by agent id or by email (`GET /api/v2/agents?email=`)."""
        if values.freshdesk_id(agent):
            return str(values.freshdesk_id(agent))
        found = self._agents.get(
            agent.casefold(), lambda: self.http.request("GET", "/api/v2/agents", params={"email": agent})
        )
        if not found:
            raise PermanentError(f"Freshdesk has no agent with email '{agent}'", 404)
        return str(found[0]["id"])

    def agent_email(self, agent: str) -> str | None:
        """Where an owner is notified: an email as given, an agent id through `GET /api/v2/agents/{id}`
        (None for an agent deleted since)."""
        if "@" in agent:
            return agent
        found = self._agents.get(f"id:{agent}", lambda: self._optional(f"/api/v2/agents/{agent}"))
        email = (found.get("contact") or {}).get("email") if isinstance(found, dict) else None
        return str(email) if email else None

    def _optional(self, path: str) -> dict[str, Any]:
        """A record a ticket points at; one deleted since (404) reads as empty rather than failing the ticket."""
        try:
            found = self.http.request("GET", path)
        except PermanentError as error:
            if error.status == 404:
                return {}
            raise
        return found if isinstance(found, dict) else {}

    def contact(self, contact_id: str) -> dict[str, Any]:
        """The requester in full: `include=requester` on a ticket gives no language and no tags."""
        found: dict[str, Any] = self._contacts.get(contact_id, lambda: self._optional(f"/api/v2/contacts/{contact_id}"))
        return found

    def company(self, company_id: str) -> dict[str, Any]:
        """The company in full: `include=company` on a ticket gives its id and name only."""
        found: dict[str, Any] = self._companies.get(
            company_id, lambda: self._optional(f"/api/v2/companies/{company_id}")
        )
        return found

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        raw = self.http.request("GET", f"/api/v2/tickets/{ticket_id}")
        requester_id = values.freshdesk_id(raw.get("requester_id"))
        company_id = values.freshdesk_id(raw.get("company_id"))
        requester = self.contact(requester_id) if requester_id else {}
        company = self.company(company_id) if company_id else {}
        group_id = values.freshdesk_id(raw.get("group_id"))
        return Ticket(
            id=str(raw["id"]),
            subject=raw.get("subject") or "",
            description=raw.get("description_text") or plain_text(raw.get("description") or ""),
            status=values.status(raw.get("status"), self.statuses),
            priority=values.priority(raw.get("priority")),
            group_id=group_id,
            group_name=self.groups().get(group_id) if group_id else None,
            assignee_id=values.freshdesk_id(raw.get("responder_id")),
            requester=Person(
                id=requester_id,
                name=requester.get("name") or "",
                email=requester.get("email"),
                locale=requester.get("language"),
                tags=tuple(requester.get("tags") or ()),
                time_zone=iana_zone(requester.get("time_zone")),  # a Rails name ("Eastern Time (US & Canada)")
            ),
            organization=Organization(
                id=company_id,
                name=company.get("name") or "",
                tags=tuple(company.get("tags") or ()),
                fields={
                    **{name: company[name] for name in COMPANY_FIELDS if company.get(name) is not None},
                    **dict(company.get("custom_fields") or {}),
                },
            )
            if company
            else None,
            tags=tuple(raw.get("tags") or ()),
            channel=CHANNELS.get(values.number(raw.get("source")) or 0),
            custom_fields=dict(raw.get("custom_fields") or {}),
            created_at=parse_instant(raw.get("created_at")),
            updated_at=parse_instant(raw.get("updated_at")),
            version=raw.get("updated_at"),
        )

    def conversations(self, ticket_id: str) -> list[dict[str, Any]]:
        """Replies and notes, oldest first (the ticket's description is not one of them)."""
        return self._pages(f"/api/v2/tickets/{ticket_id}/conversations")

    def latest_comment(self, ticket_id: str) -> Comment | None:
        conversations = self.conversations(ticket_id)
        if not conversations:
            return None
        latest = conversations[-1]
        return Comment(
            body=latest.get("body_text") or plain_text(latest.get("body") or ""),
            public=not latest.get("private", False),
            # `incoming` marks what came from the requester's side (email, portal); agents' replies and all
            # notes are outgoing.
            author="requester" if latest.get("incoming") else "agent",
            author_id=values.freshdesk_id(latest.get("user_id")),
            id=values.freshdesk_id(latest.get("id")),
        )

    # --- writes ----------------------------------------------------------------------------------------

    def field_changes(self, ticket: Ticket, plan: Plan) -> dict[str, Any]:
        """Only what differs from the ticket as it is now: re-running a plan after a conflict is harmless.
        `tags` replaces the whole list in Freshdesk, so the merged list is sent."""
        fields: dict[str, Any] = {}
        if plan.unit is not None:
            group_id = self.group_id(plan.unit.group)
            if group_id != ticket.group_id:
                fields["group_id"] = int(group_id)
        if plan.priority and plan.priority != ticket.priority:
            fields["priority"] = values.freshdesk_priority(plan.priority)
        if plan.assignee:
            agent_id = self.agent_id(plan.assignee)
            if agent_id != ticket.assignee_id:
                fields["responder_id"] = int(agent_id)
        tags = [tag for tag in ticket.tags if tag not in plan.remove_tags]
        tags += [tag for tag in plan.add_tags if tag not in tags]
        if tags != list(ticket.tags):
            fields["tags"] = tags
        return fields

    def pending_comments(self, ticket: Ticket, plan: Plan, ledger: CommentLedger) -> list[PlannedComment]:
        """Planned comments not yet sent; an unanswered send is looked for among the conversations our own
        agent wrote, so a customer never gets a reply twice."""

        def own_recent() -> list[str]:
            own = self.own_user_id()
            return [
                item.get("body_text") or plain_text(item.get("body") or "")
                for item in self.conversations(ticket.id)[-RECENT_CONVERSATIONS:]
                if values.freshdesk_id(item.get("user_id")) == own
            ]

        return unsent_comments(plan, ledger, own_recent)

    def ensure_unchanged(self, ticket: Ticket) -> None:
        """Freshdesk's missing safe_update, done by hand: ConflictError if the ticket moved since we read it."""
        if not ticket.version:
            return
        current = self.http.request("GET", f"/api/v2/tickets/{ticket.id}").get("updated_at")
        if parse_instant(current) != parse_instant(ticket.version):
            raise ConflictError(f"ticket {ticket.id} changed since it was read ({ticket.version} -> {current})", 409)

    def apply(self, ticket: Ticket, plan: Plan, ledger: CommentLedger) -> int:
        fields = self.field_changes(ticket, plan)
        comments = self.pending_comments(ticket, plan, ledger)
        owners = self._owners_to_notify(ticket, plan, ledger, comments)
        calls = 0
        if fields:
            self.ensure_unchanged(ticket)
            # Setting fields to values is safe to repeat, so VendorHttp may retry it.
            self.http.request("PUT", f"/api/v2/tickets/{ticket.id}", json=fields)
            calls += 1
        for comment in comments:
            ledger.mark(comment.key, "sending")
            payload: dict[str, Any] = {"body": to_html(comment.body)}
            if comment.public:
                path = f"/api/v2/tickets/{ticket.id}/reply"
            else:
                path = f"/api/v2/tickets/{ticket.id}/notes"
                payload["private"] = True
                if owners is not None and comment is owners[0]:
                    payload["notify_emails"] = owners[1]
            self.http.request("POST", path, json=payload, idempotent=False)
            ledger.mark(comment.key, "sent")
            if owners is not None and comment is owners[0]:
                ledger.mark(owners[2], "sent")
            calls += 1
        return calls

    def _owners_to_notify(
        self, ticket: Ticket, plan: Plan, ledger: CommentLedger, comments: list[PlannedComment]
    ) -> tuple[PlannedComment, list[str], str] | None:
        """Freshdesk has no followers an API can set: the plan's owners are mailed with its first internal note
        (`notify_emails`), or with a short note of their own when the plan has none. Once per set of owners
        (the ledger key), so a retried plan does not mail them twice."""
        emails = sorted({email for agent in plan.followers if (email := self.agent_email(agent))})
        key = "owners:" + ",".join(emails)
        if not emails or ledger.state(key) == "sent":
            return None
        note = next((comment for comment in comments if not comment.public), None)
        if note is None:
            body = f"Escalator keeps {', '.join(emails)} on ticket #{ticket.id} as its owner."
            note = PlannedComment(key=key, body=body, public=False, rule="owners")
            comments.append(note)
        return note, emails, key
