"""Mass incidents on Zendesk: a `problem` ticket, incidents linked through `problem_id`, and the notices and
resolutions sent with `update_many` (up to 100 tickets a call, each its own message, as a background job)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from escalator.connectors.base import Notice
from escalator.connectors.bulkjobs import wait_for
from escalator.connectors.zendesk.api import ZendeskClient

MAX_TICKETS = 100
"""Zendesk's limit of tickets per `update_many` (and `show_many`) call."""
FINISHED = ("completed", "failed", "killed")


class ZendeskIncidents:
    def __init__(self, client: ZendeskClient, sleep: Callable[[float], None]) -> None:
        self.client, self.http, self.sleep = client, client.http, sleep

    def create_problem(
        self, *, incident_id: str, subject: str, note: str, group: str, priority: str, members: Sequence[str]
    ) -> str:
        ticket = {
            "subject": subject,
            "comment": {"body": note, "public": False},
            "type": "problem",
            "group_id": int(self.client.group_id(group)),
            "priority": priority,
            "external_id": incident_id,  # how find_problem recognises it after a lost answer
            "tags": ["escalator_incident"],
        }
        answer = self.http.request("POST", "/api/v2/tickets.json", json={"ticket": ticket}, idempotent=False)
        return str(answer["ticket"]["id"])

    def find_problem(self, incident_id: str) -> str | None:
        answer = self.http.request("GET", "/api/v2/tickets.json", params={"external_id": incident_id})
        found = [item for item in answer.get("tickets") or [] if item.get("type") == "problem"]
        return str(found[0]["id"]) if found else None

    def start(self, problem_id: str, notices: Sequence[Notice], *, resolve: bool) -> list[tuple[str, list[str]]]:
        jobs = []
        for begin in range(0, len(notices), MAX_TICKETS):
            chunk = notices[begin : begin + MAX_TICKETS]
            tickets = [_change(problem_id, notice, resolve) for notice in chunk]
            answer = self.http.request(
                "PUT", "/api/v2/tickets/update_many.json", json={"tickets": tickets}, idempotent=False
            )
            job = answer.get("job_status") or {}
            reference = str(job.get("url") or f"/api/v2/job_statuses/{job.get('id')}.json")
            jobs.append((reference, [notice.ticket_id for notice in chunk]))
        return jobs

    def finished(self, job: str) -> set[str] | None:
        def read() -> dict[str, Any]:
            status: dict[str, Any] = self.http.request("GET", job).get("job_status") or {}
            return status

        done = wait_for(read, lambda status: status.get("status") in FINISHED, self.sleep)
        if done is None:
            return None
        return {str(item["id"]) for item in done.get("results") or [] if item.get("success")}

    def reached(self, problem_id: str, ticket_ids: Sequence[str]) -> set[str]:
        linked: set[str] = set()
        for begin in range(0, len(ticket_ids), MAX_TICKETS):
            ids = ",".join(ticket_ids[begin : begin + MAX_TICKETS])
            answer = self.http.request("GET", "/api/v2/tickets/show_many.json", params={"ids": ids})
            linked |= {str(t["id"]) for t in answer.get("tickets") or [] if str(t.get("problem_id")) == problem_id}
        return linked


def _change(problem_id: str, notice: Notice, resolve: bool) -> dict[str, Any]:
    change: dict[str, Any] = {"id": int(notice.ticket_id), "comment": {"body": notice.body, "public": True}}
    if resolve:
        change["status"] = "solved"
    else:
        change.update(problem_id=int(problem_id), type="incident")
    return change
