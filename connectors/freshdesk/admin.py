"""Freshdesk for the admin commands: who we are, the two automation rules that send us events, the ticket list.

Freshdesk has no webhook API: events leave through automation rules whose "Trigger Webhook" action posts the
documented body (`DOCUMENTED_BODY`) with the `X-Escalator-Secret` header. `install` creates the two rules
through `/api/v2/automations/{type}/rules` (type 1 ticket creation, 4 ticket updates), idempotently: a rule
is found by its name, brought up to date when a field Escalator sets differs (only those fields are sent),
and left alone when equal. Plans whose API has no automation endpoints answer 403 or 404: then `install`
prints the two rules for the admin to create by hand, as in Admin > Workflows > Automations.

The update rule is performed by "agent or requester" (performer type 3): changes Freshdesk's own automations
make (performer "system") reach Escalator through reconciliation instead.

Ticket list: `GET /api/v2/tickets?updated_since=<ISO>&order_by=updated_at&order_type=asc&per_page=100&page=N`
(`include=stats` adds `first_responded_at`). Without `updated_since` only the last 30 days are listed, and no
more than 300 pages are served for one query, so a long list continues with `updated_since` moved to the last
ticket seen (tickets updated in that same second come twice; deliveries are deduplicated downstream).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from escalator.connectors.admin import AccessProblem, ExportPage, Identity, TicketRecord, TimedComment
from escalator.connectors.base import InstallStep
from escalator.connectors.errors import PermanentError
from escalator.connectors.freshdesk import values
from escalator.connectors.freshdesk.api import FreshdeskClient, plain_text
from escalator.connectors.freshdesk.listing import LIST_MAX_PAGE, updated_tickets
from escalator.connectors.freshdesk.webhook import DOCUMENTED_BODY, SECRET_HEADER
from escalator.rules.model import Comment, parse_instant

GLOBAL_TICKET_SCOPE = 1
"""An agent's `ticket_scope`: 1 global access, 2 group access, 3 restricted access."""
ANY = "--"
"""A rule event's "from any value" / "to any value"."""
UPDATE_RULE_EVENTS: tuple[tuple[str, tuple[dict[str, str], ...]], ...] = (
    ("Status is changed (from any status to any status)", ({"field_name": "status", "from": ANY, "to": ANY},)),
    ("Priority is changed", ({"field_name": "priority", "from": ANY, "to": ANY},)),
    ("Group is updated", ({"field_name": "group_id", "from": ANY, "to": ANY},)),
    ("Agent is updated", ({"field_name": "responder_id", "from": ANY, "to": ANY},)),
    ("Type is changed", ({"field_name": "ticket_type", "from": ANY, "to": ANY},)),
    (
        "Note is added (any note)",
        ({"field_name": "note_type", "value": "public"}, {"field_name": "note_type", "value": "private"}),
    ),
    ("Reply is sent", ({"field_name": "reply_sent"},)),
)
"""The update rule's events: as the admin UI words them, and as the automations API spells them."""
CREATION, UPDATES = 1, 4
"""Automation types (the id in `/api/v2/automations/{type}/rules`)."""
RULE_NAMES = {CREATION: "Escalator: new tickets", UPDATES: "Escalator: ticket updates"}
"""How Escalator's rules are found again: by name, in their automation type."""
RULE_KINDS = {CREATION: "ticket creation", UPDATES: "ticket updates"}
EVERY_PRIORITY = [1, 2, 3, 4]
"""The creation rule's condition: one every ticket meets (a creation rule needs a condition)."""
AGENT_OR_REQUESTER = 3
"""Performer type of the update rule (1 agent, 2 requester, 3 agent or requester, 4 system)."""
RULES_PAGE_SIZE = 100
NO_AUTOMATIONS_API = (403, 404)
"""What a plan without API access to automation rules answers: then the rules are created by hand."""


def webhook_action(webhook_url: str, secret: str) -> dict[str, Any]:
    """The "Trigger Webhook" action: POST the documented body, JSON, advanced layout, the secret header."""
    return {
        "field_name": "trigger_webhook",
        "request_type": "POST",
        "url": webhook_url,
        "content_type": "JSON",
        "content_layout": "2",
        "content": DOCUMENTED_BODY,
        "custom_headers": {SECRET_HEADER: secret},
    }


def rule_specs(webhook_url: str, secret: str) -> dict[int, dict[str, Any]]:
    """The two rules as the automations API takes them, by automation type."""
    action = webhook_action(webhook_url, secret)
    description = "Sends ticket events to Escalator. Created by `escalator install`; changes here are overwritten."
    condition = {"resource_type": "ticket", "field_name": "priority", "operator": "in", "value": EVERY_PRIORITY}
    return {
        CREATION: {
            "name": RULE_NAMES[CREATION],
            "active": True,
            "description": description,
            "conditions": [{"name": "condition_set_1", "match_type": "all", "properties": [condition]}],
            "actions": [action],
        },
        UPDATES: {
            "name": RULE_NAMES[UPDATES],
            "active": True,
            "description": description,
            "performer": {"type": AGENT_OR_REQUESTER},
            "events": [event for _, events in UPDATE_RULE_EVENTS for event in events],
            "conditions": [],
            "actions": [action],
        },
    }


def covers(existing: Any, wanted: Any) -> bool:
    """Does the stored value say what we want? Keys Freshdesk adds on its side (ids, defaults) do not count;
    numbers and their text are the same value (Freshdesk reads some back as strings)."""
    if isinstance(wanted, dict):
        return isinstance(existing, dict) and all(covers(existing.get(key), value) for key, value in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(existing, list)
            and len(existing) == len(wanted)
            and all(covers(old, new) for old, new in zip(existing, wanted, strict=True))
        )
    return bool(existing == wanted or (existing is not None and str(existing) == str(wanted)))


def rule_changes(existing: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `spec` the stored rule does not hold (what an update sends)."""
    return {key: value for key, value in spec.items() if not covers(existing.get(key), value)}


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
        f'Rule 1 (Ticket Creation tab): "{RULE_NAMES[CREATION]}"',
        "    Condition: one every ticket meets, e.g. Priority is any of Low, Medium, High, Urgent",
        *action,
        f'Rule 2 (Ticket Updates tab): "{RULE_NAMES[UPDATES]}"',
        "    When an action performed by: Agent or Requester",
        "      (changes Freshdesk's own automations make reach Escalator through reconciliation)",
        "    Involves any of these events: " + "; ".join(text for text, _ in UPDATE_RULE_EVENTS),
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
        """The two automation rules that send us events, created or brought up to date through the API; on a
        plan whose API has no automation rules, printed for the admin to create."""
        if not step.webhook_url.startswith("https://"):
            step.line("warn", f"{step.webhook_url} is not https: Freshdesk never follows a redirect, use https")
        secret = step.settings.webhook_secret
        variable = step.env_names.get("webhook_secret")
        if not secret:
            step.problem(f"set webhook_secret{f' ({variable})' if variable else ''} to a long random string first")
            return
        try:
            existing = {kind: self.rules(kind) for kind in RULE_NAMES}
        except PermanentError as error:
            if error.status not in NO_AUTOMATIONS_API:
                raise
            self.print_rules(step, secret, f"Freshdesk answered {error.status} to the automations API")
            return
        try:
            for kind, spec in rule_specs(step.webhook_url, secret).items():
                self.install_rule(step, kind, spec, existing[kind])
        except PermanentError as error:
            if error.status not in NO_AUTOMATIONS_API:
                raise
            self.print_rules(step, secret, f"Freshdesk refused to save an automation rule ({error.status})")
            return
        others = [rule for rule in existing[CREATION] if rule.get("name") != RULE_NAMES[CREATION]]
        if others:
            step.line(
                "warn",
                f"{len(others)} other ticket-creation rule(s) exist: Freshdesk runs only the first matching one "
                f'unless "execute all matching rules" is set; keep "{RULE_NAMES[CREATION]}" above the others',
            )

    def rules(self, kind: int) -> list[dict[str, Any]]:
        """Every rule of an automation type (the list is paged)."""
        found: list[dict[str, Any]] = []
        for page in range(1, LIST_MAX_PAGE + 1):
            chunk = self.http.request(
                "GET", f"/api/v2/automations/{kind}/rules", params={"per_page": RULES_PAGE_SIZE, "page": page}
            )
            if not isinstance(chunk, list):
                raise PermanentError(f"GET /api/v2/automations/{kind}/rules: expected a list")
            found += [rule for rule in chunk if isinstance(rule, dict)]
            if len(chunk) < RULES_PAGE_SIZE:
                break
        return found

    def install_rule(self, step: InstallStep, kind: int, spec: dict[str, Any], rules: list[dict[str, Any]]) -> None:
        """Create the rule, update the fields of it that differ, or say it is in place."""
        name, where = spec["name"], RULE_KINDS[kind]
        mine = next((rule for rule in rules if rule.get("name") == name), None)
        if mine is None:
            would = " would be created" if step.dry_run else ""
            step.line("create", f'automation rule "{name}" ({where}) -> {step.webhook_url}{would}')
            if not step.dry_run:
                self.http.request("POST", f"/api/v2/automations/{kind}/rules", json=spec, idempotent=False)
            return
        changes = rule_changes(mine, spec)
        if not changes:
            step.line("ok", f'automation rule "{name}" ({mine.get("id")}, {where}) -> {step.webhook_url}')
            return
        would = " would be changed" if step.dry_run else ""
        step.line("update", f'automation rule "{name}" ({mine.get("id")}): {", ".join(changes)}{would}')
        if not step.dry_run:
            self.http.request("PUT", f"/api/v2/automations/{kind}/rules/{mine['id']}", json=changes)

    def print_rules(self, step: InstallStep, secret: str, why: str) -> None:
        variable = step.env_names.get("webhook_secret")
        shown = secret if step.show_secret else f"<the value of {variable or 'webhook_secret'}>"
        step.line("manual", f"{why} (a plan without API access to automation rules): create these two by hand")
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


class FreshdeskExport:
    def __init__(self, client: FreshdeskClient) -> None:
        self.client = client
        self.http = client.http

    def pages(self, *, since: datetime, checkpoint: str | None = None) -> Iterator[ExportPage]:
        for page in updated_tickets(self.http, since=since, checkpoint=checkpoint, include="stats"):
            tickets = [ticket_record(item, self.client.statuses) for item in page.tickets]
            yield ExportPage(tickets, page.checkpoint, page.end)

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
