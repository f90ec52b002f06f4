"""Zendesk: event-subscription and trigger webhooks in, Ticket API out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from escalator.connectors.admin import TicketExport
from escalator.connectors.base import DeskClient, ExportPolicy, Inbound, Services, TenantSettings
from escalator.connectors.http import VendorHttp
from escalator.connectors.ratelimit import (
    REQUESTS,
    TICKET_UPDATES,
    Observation,
    VendorLimits,
    classify_by,
    header_fields,
    header_number,
)
from escalator.connectors.zendesk.admin import EXPORTS_PER_MINUTE, ZendeskAdmin, ZendeskExport
from escalator.connectors.zendesk.api import ZendeskClient, auth_headers
from escalator.connectors.zendesk.history import ZendeskHistory
from escalator.connectors.zendesk.incidents import ZendeskIncidents
from escalator.connectors.zendesk.oauth import MemoryTokenStore, OAuthHttp, OAuthSession, uses_refresh
from escalator.connectors.zendesk.webhook import parse_event, verify_request

TICKET_UPDATE_CALLS = (
    ("PUT", r"/api/v2/tickets/\d+(\.json)?"),
    ("PUT", r"/api/v2/tickets/update_many(\.json)?"),
)
"""Calls under Zendesk's Update Ticket limit (100/min per account); every call counts against the plan's."""


def read_rate_limits(headers: Mapping[str, str]) -> list[Observation]:
    """`X-Rate-Limit-Remaining` / `ratelimit-remaining` + `ratelimit-reset` (the account, per minute) and
    `Zendesk-RateLimit-tickets-update: total=100; remaining=99; resets=41` (the Update Ticket endpoint)."""
    observed: list[Observation] = []
    remaining = header_number(headers, "ratelimit-remaining", "x-rate-limit-remaining")
    if remaining is not None:
        observed.append(Observation(REQUESTS, remaining, header_number(headers, "ratelimit-reset")))
    updates = header_fields(headers.get("zendesk-ratelimit-tickets-update"))
    if "remaining" in updates:
        observed.append(Observation(TICKET_UPDATES, updates["remaining"], updates.get("resets")))
    return observed


ZENDESK_LIMITS = VendorLimits(classify=classify_by(TICKET_UPDATE_CALLS), read=read_rate_limits)

APP_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "description": "The Escalator app installed in Zendesk (the agent sidebar): what verifies the token Zendesk "
    "signs when it opens the sidebar. `escalator install` prints both values once the app is installed.",
    "additionalProperties": False,
    "required": ["public_key", "installation_id"],
    "properties": {
        "public_key": {
            "$ref": "#/$defs/text",
            "description": "The app's RS256 public key, PEM (GET /api/v2/apps/{app_id}/public_key.pem).",
        },
        "installation_id": {
            "type": "integer",
            "minimum": 1,
            "description": "The app's installation id in the account (GET /api/v2/apps/installations.json).",
        },
    },
}
"""`tenants.<name>.zendesk_app`: a Zendesk-only setting (plugin.sidebar verifies the ZAF JWT with it)."""


class ZendeskConnector:
    vendor = "zendesk"
    display_name = "Zendesk"
    default_host = "https://{}.zendesk.com"
    default_rate_limit: Mapping[str, int] = {"requests_per_minute": 200, "ticket_updates_per_minute": 100}
    """Team plan: 200 requests a minute; Update Ticket 100 a minute per account on every plan."""
    settings_schema: Mapping[str, Mapping[str, Any]] = {"zendesk_app": APP_SCHEMA}
    export_policy = ExportPolicy(exports_per_minute=EXPORTS_PER_MINUTE, exact_cursor=True)

    def auth_problems(self, auth: Mapping[str, Any]) -> list[str]:
        problems = []
        oauth = auth.get("oauth_token") or auth.get("refresh_token")
        if not (oauth or (auth.get("email") and auth.get("api_token"))):
            problems.append("Zendesk needs email + api_token, or oauth_token")
        if auth.get("refresh_token") and not (auth.get("client_id") and auth.get("client_secret")):
            problems.append("a refresh_token needs the OAuth client's client_id and client_secret")
        return problems

    def auth_warnings(self, auth: Mapping[str, Any]) -> list[str]:
        if auth.get("api_token") and not (auth.get("oauth_token") or auth.get("refresh_token")):
            return ["Zendesk API tokens stop working on 2027-04-30: move this tenant to OAuth (auth.oauth_token)"]
        return []

    def rotates_tokens(self, auth: Mapping[str, Any]) -> bool:
        """Zendesk rotates an OAuth pair on every refresh (and deletes the old one)."""
        return uses_refresh(auth)

    def verify(self, tenant: TenantSettings, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        verify_request(tenant.webhook_secret, body, headers, now)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        return parse_event(body, headers)

    def client(self, tenant: TenantSettings, services: Services) -> ZendeskClient:
        http: VendorHttp
        options: dict[str, Any] = {
            "limiter": services.limiter,
            "limits": ZENDESK_LIMITS,
            "interrupt": services.interrupt,
        }
        if uses_refresh(tenant.auth):
            session = OAuthSession(tenant.base_url, tenant.auth, services.token_store or MemoryTokenStore())
            http = OAuthHttp(tenant.base_url, session, **options)
        else:
            http = VendorHttp(tenant.base_url, auth_headers(tenant.auth), **options)
        return ZendeskClient(http)

    def admin(self, client: DeskClient) -> ZendeskAdmin:
        assert isinstance(client, ZendeskClient)
        return ZendeskAdmin(client)

    def export(self, client: DeskClient, pace: Callable[[], None]) -> TicketExport:
        assert isinstance(client, ZendeskClient)
        return ZendeskExport(client, pace)

    def history(self, client: DeskClient, pace: Callable[[], None]) -> ZendeskHistory:
        assert isinstance(client, ZendeskClient)
        return ZendeskHistory(client, pace)

    def incidents(self, client: DeskClient, sleep: Callable[[float], None]) -> ZendeskIncidents:
        assert isinstance(client, ZendeskClient)
        return ZendeskIncidents(client, sleep)
