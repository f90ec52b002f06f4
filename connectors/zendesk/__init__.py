"""Zendesk: event-subscription and trigger webhooks in, Ticket API out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.base import Inbound
from connectors.http import VendorHttp
from connectors.zendesk.api import ZendeskClient, auth_headers
from connectors.zendesk.webhook import parse_event, verify_request


class ZendeskConnector:
    vendor = "zendesk"

    def verify(self, tenant: Mapping[str, Any], body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        verify_request(str(tenant.get("webhook_secret") or ""), body, headers, now)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Inbound:
        return parse_event(body, headers)

    def client(self, tenant: Mapping[str, Any]) -> ZendeskClient:
        return ZendeskClient(VendorHttp(str(tenant["base_url"]), auth_headers(tenant["auth"])))
