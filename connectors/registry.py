"""Vendor name -> connector. Adding a help desk is one folder and one line here."""

from __future__ import annotations

from escalator.connectors.base import Connector
from escalator.connectors.freshdesk import FreshdeskConnector
from escalator.connectors.zendesk import ZendeskConnector

CONNECTORS: dict[str, Connector] = {
    "zendesk": ZendeskConnector(),
    "freshdesk": FreshdeskConnector(),
}
