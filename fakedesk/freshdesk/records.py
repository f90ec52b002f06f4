"""The shapes of the fake Freshdesk's records, as API v2 shows them: agents, contacts, companies, tickets."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any

from escalator.fakedesk.base import iso

SEEDED = "2025-01-06T09:00:00Z"
"""When the fake account's people and companies were created."""


def html_text(markup: str) -> str:
    """The text of HTML as Freshdesk's `*_text` fields show it: tags out, line breaks kept, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<br\s*/?>|</div>|</p>", "\n", markup))).strip()


def agent_record(agent_id: int, name: str, email: str) -> dict[str, Any]:
    return {
        "id": agent_id,
        "available": True,
        "occasional": False,
        "signature": None,
        "ticket_scope": 1,
        "type": "support_agent",
        "created_at": SEEDED,
        "updated_at": SEEDED,
        "contact": {"name": name, "email": email, "language": "en", "active": True, "time_zone": "UTC"},
    }


def company_record(
    company_id: int, name: str, account_tier: str | None, health_score: str | None, custom_fields: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": company_id,
        "name": name,
        "description": None,
        "note": None,
        "domains": [],
        "custom_fields": custom_fields,
        "health_score": health_score,
        "account_tier": account_tier,
        "renewal_date": None,
        "industry": None,
        "created_at": SEEDED,
        "updated_at": SEEDED,
    }


def contact_record(
    contact_id: int,
    name: str,
    email: str,
    language: str,
    company_id: int | None,
    tags: list[str],
    time_zone: str,
) -> dict[str, Any]:
    return {
        "id": contact_id,
        "name": name,
        "email": email,
        "phone": None,
        "mobile": None,
        "active": True,
        "address": None,
        "company_id": company_id,
        "other_companies": [],
        "description": None,
        "job_title": None,
        "language": language,
        "time_zone": time_zone,
        "tags": tags,
        "custom_fields": {},
        "unique_external_id": None,
        "created_at": SEEDED,
        "updated_at": SEEDED,
    }


def ticket_record(
    ticket_id: int,
    fields: dict[str, Any],
    description: tuple[str, str],
    requester_id: int,
    company_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    """A new ticket: `fields` as given (status 2, priority 1, source 2 when absent), `description` as (HTML,
    text), due dates three days and first response one day after `now`."""
    return {
        "id": ticket_id,
        "subject": fields["subject"],
        "description": description[0],
        "description_text": description[1],
        "status": fields.get("status", 2),
        "priority": fields.get("priority", 1),
        "source": fields.get("source", 2),
        "type": fields.get("type"),
        "group_id": fields.get("group_id"),
        "responder_id": fields.get("responder_id"),
        "requester_id": requester_id,
        "company_id": company_id,
        "product_id": None,
        "email_config_id": None,
        "tags": list(fields.get("tags") or []),
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "to_emails": None,
        "spam": False,
        "fr_escalated": False,
        "is_escalated": False,
        "nr_escalated": False,
        "custom_fields": dict(fields.get("custom_fields") or {}),
        "attachments": [],
        "association_type": None,
        "due_by": iso(now + timedelta(days=3)),
        "fr_due_by": iso(now + timedelta(days=1)),
        "nr_due_by": None,
        "created_at": iso(now),
        "updated_at": iso(now),
    }
