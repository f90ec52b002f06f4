"""Freshdesk's values <-> Escalator's common values.

Freshdesk speaks numbers in its API (status 2-5 and custom 6+, priority 1-4) and display names in rendered
webhook placeholders ("Pending", "Medium", "Waiting on Customer"). Only the numbers are used for decisions.
"""

from __future__ import annotations

from collections.abc import Mapping

PRIORITY_FROM_FRESHDESK: dict[int, str] = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
"""Freshdesk's "Medium" (2) is our `normal`."""
PRIORITY_TO_FRESHDESK: dict[str, int] = {name: number for number, name in PRIORITY_FROM_FRESHDESK.items()}

BUILT_IN_STATUSES: dict[int, str] = {2: "open", 3: "pending", 4: "solved", 5: "closed"}
"""Freshdesk has no "new": a fresh ticket is Open (2). 6 and up are the account's custom statuses."""
SOLVED_IDS = frozenset({4, 5})
"""Resolved and Closed: a move into them is `ticket.solved`, a move out of them `ticket.reopened`."""
CUSTOM_STATUS_VALUES = ("open", "pending", "on_hold")
"""What a custom status may mean (tenant setting `freshdesk.statuses`). Freshdesk's custom statuses are
working states (with the SLA timer on or off); Resolved and Closed are always the built-in 4 and 5."""
UNKNOWN_CUSTOM_STATUS = "open"
"""A custom status the tenant did not map counts as open: the SLA clocks keep running, which errs on the
side of telling someone rather than silently pausing."""


def number(value: object) -> int | None:
    """An API number, or a placeholder that rendered one ("4", 4, " 4 "); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() else None


def status(value: object, custom: Mapping[str, str] | None = None) -> str:
    """Status id -> common status; custom ids through the tenant's mapping, unknown ones as open."""
    code = number(value)
    if code is None:
        return UNKNOWN_CUSTOM_STATUS
    if code in BUILT_IN_STATUSES:
        return BUILT_IN_STATUSES[code]
    mapped = (custom or {}).get(str(code))
    return mapped if mapped in CUSTOM_STATUS_VALUES else UNKNOWN_CUSTOM_STATUS


def priority(value: object) -> str | None:
    code = number(value)
    return PRIORITY_FROM_FRESHDESK.get(code) if code is not None else None


def freshdesk_priority(value: str) -> int:
    """Common priority -> Freshdesk's number; a value the rules loader let through but Freshdesk lacks is a bug."""
    return PRIORITY_TO_FRESHDESK[value]


def freshdesk_id(value: object) -> str | None:
    """Ids arrive as numbers from the API and as strings from placeholders; 0, "", "null" mean none."""
    code = number(value)
    return str(code) if code else None


def is_ticket_id(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also accepts "²" and other digits no ticket URL can carry."""
    return bool(text) and text.isascii() and text.isdigit()
