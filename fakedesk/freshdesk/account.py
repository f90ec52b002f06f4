"""Who is who on the fake Freshdesk account, its enumerations and error shape: shared by its modules."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify

from escalator.fakedesk.base import answer, offset_page, query_int

OWN_AGENT_ID = 900
"""The agent whose API key Escalator uses."""
HUMAN_AGENT_ID = 901
PRIORITY_NAMES = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}
PRIORITY_BY_NAME = {"low": 1, "normal": 2, "medium": 2, "high": 3, "urgent": 4}
BUILT_IN_STATUSES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
UPDATE_RULE_EVENTS = ("status", "priority", "group_id", "responder_id", "ticket_type")
"""The ticket-update rule's property events, in the order Freshdesk checks them."""
INCLUDES = ("conversations", "requester", "company", "stats")
"""What `GET /api/v2/tickets/{id}?include=` accepts."""
TICKET_FIELDS = {"group_id", "responder_id", "priority", "status", "tags", "type", "subject", "custom_fields"}
"""Fields the fake's `PUT /api/v2/tickets/{id}` understands (a subset of Freshdesk's)."""
CREATE_FIELDS = TICKET_FIELDS | {"requester_id", "email", "name", "description", "source", "related_ticket_ids"}
"""Fields the fake's `POST /api/v2/tickets` understands."""
TRACKER, RELATED = 3, 4
"""`association_type` of a tracker ticket and of the tickets it tracks (1 and 2 are parent and child)."""

FRESHDESK_TICKET_UPDATE = re.compile(r"(PUT /api/v2/tickets/\d+|POST /api/v2/tickets/bulk_update)")
"""Calls under Freshdesk's ticket-update limit; notes and replies count only against the account's."""

Problem = tuple[str, str, str]
"""(field, message, code): one entry of Freshdesk's validation errors."""


def error(status: int, *errors: Problem) -> Response:
    """Freshdesk's validation error shape: (field, message, code) per problem."""
    body = {
        "description": "Validation failed",
        "errors": [{"field": name, "message": message, "code": code} for name, message, code in errors],
    }
    return answer(body, status)


def page_of(items: list[Any]) -> Response:
    """Freshdesk's paging: `page` from 1, `per_page` up to 100 (30 by default), a bare JSON array."""
    chunk, _more = offset_page(items, query_int("page", 1), query_int("per_page", 30, high=100))
    return jsonify(chunk)
