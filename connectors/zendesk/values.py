"""Zendesk's values <-> Escalator's common values (enums may arrive in any case)."""

from __future__ import annotations

from collections.abc import Mapping

STATUS_FROM_ZENDESK = {
    "new": "new",
    "open": "open",
    "pending": "pending",
    "hold": "on_hold",
    "on_hold": "on_hold",
    "solved": "solved",
    "closed": "closed",
}
STATUS_TO_ZENDESK = {"on_hold": "hold"}
PRIORITIES = ("low", "normal", "high", "urgent")


def status(value: object) -> str:
    return STATUS_FROM_ZENDESK.get(str(value or "new").strip().lower(), "open")


def priority(value: object) -> str | None:
    text = str(value).strip().lower() if value else None
    return text if text in PRIORITIES else None


def zendesk_id(value: object) -> str | None:
    """Ids arrive as numbers from the REST API, as strings in event payloads, and as `{"id": ...}` objects in
    some events' `previous`/`current`; "0" and "" mean none."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if value in (None, "", 0, "0"):
        return None
    return str(value)


def is_ticket_id(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also accepts "²" and other digits no ticket URL can carry."""
    return text.isascii() and text.isdigit() and len(text) <= 20


def canonical_ticket_id(text: str) -> str:
    """ "00050001" and "50001" are one ticket with one inbox (and one reply to its customer)."""
    return str(int(text))
