"""Freshdesk: automation-rule webhooks in (shared secret, no signatures), REST API v2 out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from escalator.connectors.base import Inbound
from escalator.connectors.freshdesk.api import FreshdeskClient, auth_headers
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


class FreshdeskConnector:
    vendor = "freshdesk"

    def verify(self, tenant: Mapping[str, Any], body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        # Freshdesk signs nothing and sends no timestamp: the shared secret is all there is to check.
        verify_request(str(tenant.get("webhook_secret") or ""), headers)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        return parse_event(body)

    def client(self, tenant: Mapping[str, Any]) -> FreshdeskClient:
        """`tenant["limiter"]`, when present, is the tenant's shared RateLimiter (the plugin puts it there);
        `tenant["freshdesk"]["statuses"]` maps custom statuses."""
        http = VendorHttp(
            str(tenant["base_url"]),
            auth_headers(tenant["auth"]),
            limiter=tenant.get("limiter"),
            interrupt=tenant.get("interrupt"),
            limits=FRESHDESK_LIMITS,
        )
        return FreshdeskClient(http, statuses=(tenant.get("freshdesk") or {}).get("statuses") or {})
