"""A third help desk, whole in one folder: the proof that adding a vendor touches nothing in plugin/.

"Thirddesk" signs webhooks with a shared secret header and takes writes as plain method calls on an
in-memory desk (its API is a Python object here, not HTTP: what matters is the contract, not the transport).
`register(ThirdConnector())` is the one line that makes it a vendor Escalator serves.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalator.connectors.admin import ExportPage, Identity, TicketExport, TimedComment
from escalator.connectors.base import (
    CommentLedger,
    DeskClient,
    ExportPolicy,
    Inbound,
    InstallStep,
    Services,
    TenantSettings,
)
from escalator.connectors.errors import WebhookRejected
from escalator.rules.model import Comment, Person, Ticket, TicketEvent, parse_instant
from escalator.rules.plan import Plan

GROUPS = {"1": "Tier 1", "2": "Tier 2", "3": "Tier 3", "4": "Finance", "5": "Legal", "6": "Security"}


@dataclass
class ThirdDesk:
    """The help desk itself: tickets by id, and every write it received."""

    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[dict[str, Any]] = field(default_factory=list)


DESKS: dict[str, ThirdDesk] = {}
"""base_url -> desk: a tenant's client finds its desk by its address."""


class ThirdClient:
    def __init__(self, desk: ThirdDesk) -> None:
        self.desk = desk

    def own_user_id(self) -> str:
        return "bot"

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        raw = self.desk.tickets[ticket_id]
        return Ticket(
            id=ticket_id,
            subject=raw["subject"],
            description=raw["description"],
            status=raw["status"],
            priority=raw.get("priority"),
            group_id=raw.get("group"),
            group_name=GROUPS.get(raw.get("group") or ""),
            requester=Person(id="c1", name=raw["requester"], email="c@example.com"),
            created_at=parse_instant(raw["created_at"]),
        )

    def groups(self, refresh: bool = False) -> dict[str, str]:
        return dict(GROUPS)

    def latest_comment(self, ticket_id: str) -> Comment | None:
        return None

    def apply(self, ticket: Ticket, plan: Plan, ledger: CommentLedger) -> int:
        raw = self.desk.tickets[ticket.id]
        write: dict[str, Any] = {"ticket_id": ticket.id}
        if plan.unit is not None:
            raw["group"] = write["group"] = next(gid for gid, name in GROUPS.items() if name == plan.unit.group)
        if plan.priority:
            raw["priority"] = write["priority"] = plan.priority
        write["comments"] = []
        for comment in plan.comments:
            if ledger.state(comment.key) != "sent":
                write["comments"].append({"body": comment.body, "public": comment.public})
                ledger.mark(comment.key, "sent")
        self.desk.writes.append(write)
        return 1


class ThirdAdmin:
    def __init__(self, client: ThirdClient) -> None:
        self.client = client

    def whoami(self) -> Identity:
        return Identity("bot", "Escalator", "bot@thirddesk.example", "admin")

    def groups(self) -> dict[str, str]:
        return dict(GROUPS)

    def install(self, step: InstallStep) -> None:
        step.line("manual", f"point Thirddesk's webhook at {step.webhook_url}")


class ThirdExport:
    def pages(self, *, since: datetime, checkpoint: str | None = None) -> Iterator[ExportPage]:
        yield ExportPage([], checkpoint or "", True)

    def count_open(self) -> int | None:
        return 0

    def comments_since(self, ticket_id: str, since: datetime, limit: int = 10) -> list[TimedComment]:
        return []


class ThirdConnector:
    vendor = "thirddesk"
    display_name = "Thirddesk"
    default_host = "https://{}.thirddesk.example"
    default_rate_limit: Mapping[str, int] = {"requests_per_minute": 600}
    settings_schema: Mapping[str, Mapping[str, Any]] = {
        "thirddesk": {"type": "object", "properties": {"region": {"enum": ["eu", "us"]}}, "additionalProperties": False}
    }
    export_policy = ExportPolicy()

    def auth_problems(self, auth: Mapping[str, Any]) -> list[str]:
        return [] if auth.get("api_key") else ["Thirddesk needs api_key"]

    def auth_warnings(self, auth: Mapping[str, Any]) -> list[str]:
        return []

    def rotates_tokens(self, auth: Mapping[str, Any]) -> bool:
        return False

    def verify(self, tenant: TenantSettings, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        if not hmac.compare_digest(headers.get("x-third-secret", ""), tenant.webhook_secret):
            raise WebhookRejected(401, "wrong secret")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        data = json.loads(body)
        occurred = parse_instant(data["at"])
        assert occurred is not None
        return Inbound(TicketEvent(f"third:{data['id']}", data["kind"], str(data["ticket"]), occurred))

    def client(self, tenant: TenantSettings, services: Services) -> DeskClient:
        return ThirdClient(DESKS.setdefault(tenant.base_url, ThirdDesk()))

    def admin(self, client: DeskClient) -> ThirdAdmin:
        assert isinstance(client, ThirdClient)
        return ThirdAdmin(client)

    def incidents(self, client: DeskClient, sleep: Callable[[float], None]) -> None:
        return None  # no problem tickets here: incident rules stay idle

    def export(self, client: DeskClient, pace: Callable[[], None]) -> TicketExport:
        return ThirdExport()
