"""Freshdesk for the admin commands: who we are, the automation rules to create, and the ticket list.

Freshdesk's public API has no webhook API, and its automation-rule endpoints are not a reliable way to create
a "Trigger Webhook" rule (the action's body, headers and event list are not all settable the way the admin UI
sets them), so `install` prints the two rules for the admin to create instead of creating them.

Ticket list: `GET /api/v2/tickets?updated_since=<ISO>&order_by=updated_at&order_type=asc&per_page=100&page=N`
(`include=stats` adds `first_responded_at`). Without `updated_since` only the last 30 days are listed, and no
more than 300 pages are served for one query, so a long list continues with `updated_since` moved to the last
ticket seen (tickets updated in that same second come twice; deliveries are deduplicated downstream).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from escalator.connectors.admin import AccessProblem, ExportPage, Identity, TicketRecord, TimedComment
from escalator.connectors.base import InstallStep
from escalator.connectors.errors import PermanentError
from escalator.connectors.freshdesk import values
from escalator.connectors.freshdesk.api import FreshdeskClient, plain_text
from escalator.connectors.freshdesk.webhook import DOCUMENTED_BODY, SECRET_HEADER
from escalator.rules.model import Comment, format_instant, parse_instant

LIST_PAGE_SIZE = 100
LIST_MAX_PAGE = 300
"""Freshdesk serves at most this many pages for one list query."""
GLOBAL_TICKET_SCOPE = 1
"""An agent's `ticket_scope`: 1 global access, 2 group access, 3 restricted access."""
UPDATE_RULE_EVENTS = (
    "Status is changed (from any status to any status)",
    "Priority is changed",
    "Group is updated",
    "Agent is updated",
    "Type is changed",
    "Note is added (any note)",
    "Reply is sent",
)


def automation_rules(webhook_url: str, secret_text: str) -> list[str]:
    """The two automation rules, as lines an admin follows in Admin > Workflows > Automations."""
    body = json.dumps(DOCUMENTED_BODY, indent=2)
    action = [
        "    Action: Trigger Webhook",
        "      Request type: POST",
        f"      URL: {webhook_url}",
        f"      Custom header: {SECRET_HEADER}: {secret_text}   (or Basic auth with the secret as password)",
        "      Encoding: JSON, Content: Advanced, body:",
        *("        " + line for line in body.splitlines()),
    ]
    return [
        'Rule 1 (Ticket Creation tab): "Escalator: new tickets"',
        "    Condition: one every ticket meets, e.g. Priority is any of Low, Medium, High, Urgent",
        *action,
        'Rule 2 (Ticket Updates tab): "Escalator: ticket updates"',
        "    When an action performed by: Anyone",
        "    Involves any of these events: " + "; ".join(UPDATE_RULE_EVENTS),
        "    Conditions: none",
        *action,
        "Place both rules above any rule that stops processing.",
    ]


class FreshdeskAdmin:
    def __init__(self, client: FreshdeskClient) -> None:
        self.client = client
        self.http = client.http

    def whoami(self) -> Identity:
        try:
            agent = self.http.request("GET", "/api/v2/agents/me")
        except PermanentError as error:
            if error.status == 401:
                raise AccessProblem("credentials", f"wrong credentials: Freshdesk answered 401 ({error})") from None
            if error.status == 403:
                raise AccessProblem("permissions", f"the API key's agent lacks access: 403 ({error})") from None
            raise
        contact = agent.get("contact") or {}
        notes: tuple[str, ...] = ()
        if agent.get("ticket_scope") not in (None, GLOBAL_TICKET_SCOPE):
            notes = ("the agent does not have global ticket access: give it Global access or it misses tickets",)
        return Identity(
            str(agent.get("id")),
            str(contact.get("name") or ""),
            str(contact.get("email") or ""),
            str(agent.get("type") or "agent"),
            notes,
        )

    def groups(self) -> dict[str, str]:
        return self.client.groups(refresh=True)

    def install(self, step: InstallStep) -> None:
        """Freshdesk has no webhook API: events leave through two automation rules, shown for the admin."""
        if not step.webhook_url.startswith("https://"):
            step.line("warn", f"{step.webhook_url} is not https: Freshdesk never follows a redirect, use https")
        secret = step.settings.webhook_secret
        variable = step.env_names.get("webhook_secret")
        if not secret:
            step.problem(f"set webhook_secret{f' ({variable})' if variable else ''} to a long random string first")
            return
        shown = secret if step.show_secret else f"<the value of {variable or 'webhook_secret'}>"
        step.line("manual", "Freshdesk's public API cannot create automation rules reliably: create these two")
        for text in automation_rules(step.webhook_url, shown):
            step.line("", text)


def ticket_record(ticket: dict[str, Any], statuses: dict[str, str]) -> TicketRecord:
    created = parse_instant(ticket.get("created_at")) or datetime.fromtimestamp(0, UTC)
    stats = ticket.get("stats") or {}
    gone = ticket.get("deleted") or ticket.get("spam")
    return TicketRecord(
        ticket_id=str(ticket["id"]),
        status="deleted" if gone else values.status(ticket.get("status"), statuses),
        created_at=created,
        updated_at=parse_instant(ticket.get("updated_at")) or created,
        group_id=values.freshdesk_id(ticket.get("group_id")),
        first_reply_at=parse_instant(stats.get("first_responded_at")),
        snapshot=None,  # list items are partial: the worker reads each ticket back before deciding
    )


def _checkpoint(since: str, page: int) -> str:
    return json.dumps({"updated_since": since, "page": page}, separators=(",", ":"))


class FreshdeskExport:
    def __init__(self, client: FreshdeskClient) -> None:
        self.client = client
        self.http = client.http

    def pages(self, *, since: datetime, checkpoint: str | None = None) -> Iterator[ExportPage]:
        if checkpoint:
            saved = json.loads(checkpoint)
            updated_since, page = str(saved["updated_since"]), int(saved["page"])
        else:
            updated_since, page = format_instant(since.replace(microsecond=0)), 1
        while True:
            chunk = self.http.request(
                "GET",
                "/api/v2/tickets",
                params={
                    "updated_since": updated_since,
                    "order_by": "updated_at",
                    "order_type": "asc",
                    "per_page": LIST_PAGE_SIZE,
                    "page": page,
                    "include": "stats",
                },
            )
            if not isinstance(chunk, list):
                raise PermanentError(f"GET /api/v2/tickets: expected a list, got {type(chunk).__name__}")
            tickets = [ticket_record(item, self.client.statuses) for item in chunk]
            end = len(chunk) < LIST_PAGE_SIZE
            if end:
                next_since, next_page = updated_since, page
            elif page >= LIST_MAX_PAGE:
                # The last page Freshdesk serves for this query: continue from the newest ticket seen.
                next_since, next_page = format_instant(max(ticket.updated_at for ticket in tickets)), 1
            else:
                next_since, next_page = updated_since, page + 1
            yield ExportPage(tickets, _checkpoint(next_since, next_page), end)
            if end:
                return
            updated_since, page = next_since, next_page

    def count_open(self) -> int | None:
        return None  # the list has no count; the progress bar shows tickets and rate only

    def comments_since(self, ticket_id: str, since: datetime, limit: int = 10) -> list[TimedComment]:
        found: list[TimedComment] = []
        for item in self.client.conversations(ticket_id):
            created = parse_instant(item.get("created_at"))
            if created is None or created <= since:
                continue
            comment = Comment(
                body=item.get("body_text") or plain_text(item.get("body") or ""),
                public=not item.get("private", False),
                author="requester" if item.get("incoming") else "agent",
                author_id=values.freshdesk_id(item.get("user_id")),
                id=values.freshdesk_id(item.get("id")),
            )
            found.append(TimedComment(comment, created))
        return sorted(found, key=lambda item: item.created_at)[-limit:]
