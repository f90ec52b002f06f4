"""Zendesk: event-subscription and trigger webhooks in, Ticket API out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from escalator.connectors.base import Inbound
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
from escalator.connectors.zendesk.api import ZendeskClient, auth_headers
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


class ZendeskConnector:
    vendor = "zendesk"

    def verify(self, tenant: Mapping[str, Any], body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        verify_request(str(tenant.get("webhook_secret") or ""), body, headers, now)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        return parse_event(body, headers)

    def client(self, tenant: Mapping[str, Any]) -> ZendeskClient:
        """`tenant["limiter"]`, when present, is the tenant's shared RateLimiter, and `tenant["token_store"]`
        where rotated OAuth tokens are shared (the plugin puts both there)."""
        base_url, auth = str(tenant["base_url"]), tenant["auth"]
        http: VendorHttp
        if uses_refresh(auth):
            session = OAuthSession(base_url, auth, tenant.get("token_store") or MemoryTokenStore())
            http = OAuthHttp(
                base_url,
                session,
                limiter=tenant.get("limiter"),
                interrupt=tenant.get("interrupt"),
                limits=ZENDESK_LIMITS,
            )
        else:
            http = VendorHttp(
                base_url,
                auth_headers(auth),
                limiter=tenant.get("limiter"),
                interrupt=tenant.get("interrupt"),
                limits=ZENDESK_LIMITS,
            )
        return ZendeskClient(http)
