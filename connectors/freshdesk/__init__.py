"""Freshdesk: automation-rule webhooks in (shared secret, no signatures), REST API v2 out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from escalator.connectors.admin import TicketExport
from escalator.connectors.base import DeskClient, ExportPolicy, Inbound, Services, TenantSettings
from escalator.connectors.freshdesk.admin import FreshdeskAdmin, FreshdeskExport
from escalator.connectors.freshdesk.api import FreshdeskClient, auth_headers
from escalator.connectors.freshdesk.history import FreshdeskHistory
from escalator.connectors.freshdesk.incidents import FreshdeskIncidents
from escalator.connectors.freshdesk.webhook import parse_event, verify_request
from escalator.connectors.http import VendorHttp
from escalator.connectors.ratelimit import REQUESTS, Observation, VendorLimits, classify_by, header_number

TICKET_UPDATE_CALLS = (
    ("PUT", r"/api/v2/tickets/\d+"),
    ("POST", r"/api/v2/tickets/bulk_update"),
)
"""Calls under Freshdesk's ticket-update limit (80/160/280 per minute by plan); notes and replies are not."""


def read_rate_limits(headers: Mapping[str, str]) -> list[Observation]:
    """`X-RateLimit-Remaining`: the account's per-minute budget (Freshdesk sends no reset time)."""
    remaining = header_number(headers, "x-ratelimit-remaining")
    return [Observation(REQUESTS, remaining)] if remaining is not None else []


FRESHDESK_LIMITS = VendorLimits(classify=classify_by(TICKET_UPDATE_CALLS), read=read_rate_limits)


OPTIONS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "description": "Settings only a Freshdesk tenant has.",
    "additionalProperties": False,
    "properties": {
        "statuses": {
            "type": "object",
            "description": "Custom status id (6 and up, from /api/v2/ticket_fields) -> what it means to Escalator. "
            "pending and on_hold pause SLA clocks (the default pause_on); an unmapped custom status counts as open.",
            "propertyNames": {"pattern": "^([6-9]|[1-9][0-9]+)$"},
            "additionalProperties": {"enum": ["open", "pending", "on_hold"]},
        }
    },
}


class FreshdeskConnector:
    vendor = "freshdesk"
    display_name = "Freshdesk"
    default_host = "https://{}.freshdesk.com"
    default_rate_limit: Mapping[str, int] = {"requests_per_minute": 200, "ticket_updates_per_minute": 80}
    """Growth plan: 200 requests and 80 ticket updates a minute."""
    settings_schema: Mapping[str, Mapping[str, Any]] = {"freshdesk": OPTIONS_SCHEMA}
    export_policy = ExportPolicy(settle=timedelta(minutes=2))
    """The ticket list (`updated_since`) lags and pages by time: look two minutes back on every pass."""

    def auth_problems(self, auth: Mapping[str, Any]) -> list[str]:
        return [] if auth.get("api_key") else ["Freshdesk needs api_key"]

    def auth_warnings(self, auth: Mapping[str, Any]) -> list[str]:
        return []

    def rotates_tokens(self, auth: Mapping[str, Any]) -> bool:
        return False

    def verify(self, tenant: TenantSettings, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        # Freshdesk signs nothing and sends no timestamp: the shared secret is all there is to check.
        verify_request(tenant.webhook_secret, headers)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        return parse_event(body)

    def client(self, tenant: TenantSettings, services: Services) -> FreshdeskClient:
        http = VendorHttp(
            tenant.base_url,
            auth_headers(tenant.auth),
            limiter=services.limiter,
            limits=FRESHDESK_LIMITS,
            interrupt=services.interrupt,
        )
        return FreshdeskClient(http, statuses=dict((tenant.options.get("freshdesk") or {}).get("statuses") or {}))

    def admin(self, client: DeskClient) -> FreshdeskAdmin:
        assert isinstance(client, FreshdeskClient)
        return FreshdeskAdmin(client)

    def export(self, client: DeskClient, pace: Callable[[], None]) -> TicketExport:
        assert isinstance(client, FreshdeskClient)
        return FreshdeskExport(client)

    def history(self, client: DeskClient, pace: Callable[[], None]) -> FreshdeskHistory:
        assert isinstance(client, FreshdeskClient)
        return FreshdeskHistory(client, pace)

    def incidents(self, client: DeskClient, sleep: Callable[[float], None]) -> FreshdeskIncidents:
        assert isinstance(client, FreshdeskClient)
        return FreshdeskIncidents(client, sleep)
