"""Who is who on the fake Zendesk account, and which calls its budgets count: shared by its modules."""

from __future__ import annotations

import re
from typing import Any

OWN_USER_ID = 900
"""The integration user Escalator authenticates as."""
AGENT_ID = 901
"""The human agent whose UI changes race Escalator's."""

TICKET_UPDATE = re.compile(r"PUT /api/v2/tickets/(\d+|update_many)(\.json)?")
"""Calls the fake counts against the Update Ticket limit."""

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}

IANA_TO_ZENDESK = {
    "America/New_York": "Eastern Time (US & Canada)",
    "America/Chicago": "Central Time (US & Canada)",
    "America/Denver": "Mountain Time (US & Canada)",
    "America/Los_Angeles": "Pacific Time (US & Canada)",
    "Europe/London": "London",
    "Europe/Paris": "Paris",
    "Europe/Berlin": "Berlin",
    "Europe/Madrid": "Madrid",
    "Asia/Tokyo": "Tokyo",
    "Australia/Sydney": "Sydney",
    "UTC": "UTC",
}
"""Zendesk shows a user's zone twice: `time_zone` (its Rails name) and `iana_time_zone`."""


def user_record(user_id: int, name: str, email: str, role: str, locale: str, time_zone: str) -> dict[str, Any]:
    """A user as `GET /api/v2/users/{id}` shows it; `time_zone` is given as an IANA name."""
    return {
        "id": user_id,
        "name": name,
        "email": email,
        "role": role,
        "locale": locale,
        "time_zone": IANA_TO_ZENDESK.get(time_zone, time_zone),
        "iana_time_zone": time_zone,
        "tags": [],
    }
