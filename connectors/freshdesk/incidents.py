"""Mass incidents on Freshdesk: a tracker ticket linking the affected tickets (Freshdesk links them when the
tracker is created; later ones are named in a note on it), and the notices and resolutions sent with
`bulk_update` (one message for many tickets, so tickets with the same text share a call)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from escalator.connectors.base import Notice
from escalator.connectors.bulkjobs import wait_for
from escalator.connectors.freshdesk import values
from escalator.connectors.freshdesk.api import FreshdeskClient, to_html

MAX_TICKETS = 100
RESOLVED = 4
OPEN = 2
MARKER = "escalator_incident_"
"""Tag prefix naming the incident on its tracker: how find_problem recognises it (Freshdesk has no external id)."""


class FreshdeskIncidents:
    def __init__(self, client: FreshdeskClient, sleep: Callable[[float], None]) -> None:
        self.client, self.http, self.sleep = client, client.http, sleep

    def create_problem(
        self, *, incident_id: str, subject: str, note: str, group: str, priority: str, members: Sequence[str]
    ) -> str:
        body = {
            "subject": subject,
            "description": to_html(note),
            "requester_id": int(self.client.own_user_id()),  # a tracker's requester is an agent
            "group_id": int(self.client.group_id(group)),
            "priority": values.freshdesk_priority(priority),
            "status": OPEN,
            "tags": ["escalator_incident", MARKER + incident_id],
            "related_ticket_ids": [int(ticket) for ticket in members],
        }
        answer = self.http.request("POST", "/api/v2/tickets", json=body, idempotent=False)
        return str(answer["id"])

    def find_problem(self, incident_id: str) -> str | None:
        since = _opened(incident_id) - timedelta(minutes=1)
        listed = self.http.request(
            "GET", "/api/v2/tickets", params={"updated_since": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "per_page": 100}
        )
        found = [item for item in listed or [] if MARKER + incident_id in (item.get("tags") or [])]
        return str(found[0]["id"]) if found else None

    def start(self, problem_id: str, notices: Sequence[Notice], *, resolve: bool) -> list[tuple[str, list[str]]]:
        by_text: dict[str, list[int]] = {}
        for notice in notices:
            by_text.setdefault(notice.body, []).append(int(notice.ticket_id))
        jobs = []
        for text, ids in by_text.items():
            for begin in range(0, len(ids), MAX_TICKETS):
                chunk = ids[begin : begin + MAX_TICKETS]
                action: dict[str, Any] = {"ids": chunk, "reply": {"body": to_html(text)}}
                if resolve:
                    action["properties"] = {"status": RESOLVED}
                answer = self.http.request(
                    "POST", "/api/v2/tickets/bulk_update", json={"bulk_action": action}, idempotent=False
                )
                reference = str(answer.get("href") or f"/api/v2/jobs/{answer['job_id']}")
                jobs.append((reference, [str(ticket) for ticket in chunk]))
        if not resolve and notices:
            # Freshdesk links tickets to a tracker only when the tracker is made: every batch is named on it.
            listed = ", ".join(f"#{notice.ticket_id}" for notice in notices)
            note = {"body": to_html(f"Told about this incident: {listed}."), "private": True}
            self.http.request("POST", f"/api/v2/tickets/{problem_id}/notes", json=note, idempotent=False)
        return jobs

    def finished(self, job: str) -> set[str] | None:
        def read() -> dict[str, Any]:
            status: dict[str, Any] = self.http.request("GET", job)
            return status

        done = wait_for(read, lambda status: status.get("status") in ("completed", "failed"), self.sleep)
        if done is None:
            return None
        return {str(item["id"]) for item in done.get("data") or [] if item.get("success")}

    def reached(self, problem_id: str, ticket_ids: Sequence[str]) -> set[str]:
        return set()  # a reply leaves no mark an API read can tell apart: the ticket is tried again


def _opened(incident_id: str) -> datetime:
    stamp = incident_id.rsplit("-", 1)[-1]
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC) - timedelta(days=1)
