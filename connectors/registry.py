"""Vendor name -> connector: the only way the plugin reaches a help desk. Adding one is a folder and a line
in CONNECTORS (or `register`, for a connector that lives outside this package)."""

from __future__ import annotations

from escalator.connectors.base import Connector
from escalator.connectors.freshdesk import FreshdeskConnector
from escalator.connectors.zendesk import ZendeskConnector

CONNECTORS: dict[str, Connector] = {
    "zendesk": ZendeskConnector(),
    "freshdesk": FreshdeskConnector(),
}


def register(connector: Connector) -> None:
    """Make a connector known by its `vendor` name (configuration, webhooks, install, export all find it)."""
    CONNECTORS[connector.vendor] = connector


def connector_for(vendor: str) -> Connector:
    try:
        return CONNECTORS[vendor]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise KeyError(f"no connector for '{vendor}' (known: {known})") from None
