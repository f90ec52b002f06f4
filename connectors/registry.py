"""Vendor name -> connector. Adding a help desk is one folder and one line here."""

from __future__ import annotations

from connectors.base import Connector
from connectors.freshdesk import FreshdeskConnector
from connectors.zendesk import ZendeskConnector

CONNECTORS: dict[str, Connector] = {
    "zendesk": ZendeskConnector(),
    "freshdesk": FreshdeskConnector(),
}
