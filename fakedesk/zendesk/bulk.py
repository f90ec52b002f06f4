"""`PUT /api/v2/tickets/update_many` and the job statuses it answers with.

Zendesk takes up to 100 tickets per call, either one change for `?ids=1,2,3` (`{"ticket": {...}}`) or a change
each (`{"tickets": [{"id": 1, ...}, ...]}`); the call spends one Update Ticket token, runs as a background job
and each ticket's change is a save of its own (its audit, its webhooks). The fake runs the job at once unless
`hold_jobs` is set, so tests can count vendor calls against tickets touched (`writes` carry the `job_id`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from escalator.fakedesk.base import Job, parse_time
from escalator.fakedesk.zendesk.account import NOT_FOUND, OWN_USER_ID
from escalator.fakedesk.zendesk.api import update_refusal

if TYPE_CHECKING:
    from escalator.fakedesk.zendesk.desk import FakeZendesk

MAX_TICKETS = 100
"""Zendesk's limit of tickets per update_many call."""


def _invalid(description: str) -> tuple[dict[str, Any], int]:
    return {"error": "InvalidValue", "description": description}, 400


def requested_changes() -> list[tuple[int, dict[str, Any]]] | tuple[dict[str, Any], int]:
    """(ticket id, changes) per ticket from either request form, or the 400 Zendesk answers."""
    body = request.get_json(silent=True) or {}
    if isinstance(body.get("tickets"), list):
        items = body["tickets"]
        if not all(isinstance(item, dict) and isinstance(item.get("id"), int) for item in items):
            return _invalid("Each ticket needs an id")
        batch = [(item["id"], {key: value for key, value in item.items() if key != "id"}) for item in items]
    elif isinstance(body.get("ticket"), dict) and request.args.get("ids"):
        try:
            ids = [int(part) for part in request.args["ids"].split(",")]
        except ValueError:
            return _invalid("ids must be a comma-separated list of ticket ids")
        batch = [(ticket_id, dict(body["ticket"])) for ticket_id in ids]
    else:
        return _invalid("Send ids with a ticket, or tickets")
    if not batch or len(batch) > MAX_TICKETS:
        return _invalid(f"Between 1 and {MAX_TICKETS} tickets can be updated at once")
    return batch


def ticket_task(fake: FakeZendesk, ticket_id: int, changes: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    """One ticket's part of a job: validated and applied as a single update would be."""

    def run(job_id: str) -> dict[str, Any]:
        ticket = fake.tickets.get(ticket_id)
        refusal = (NOT_FOUND, 404) if ticket is None else update_refusal(fake, ticket, changes)
        if refusal is not None:
            error = refusal[0]
            return {"id": ticket_id, "action": "update", "success": False, **_failure(error)}
        fake.writes.append({"ticket_id": ticket_id, "job_id": job_id, **changes})
        fake._update(ticket_id, changes, actor=OWN_USER_ID)
        return {"id": ticket_id, "action": "update", "status": "Updated", "success": True}

    return run


def _failure(error: dict[str, Any]) -> dict[str, Any]:
    return {"error": error["error"], "details": error["description"]}


def job_status(fake: FakeZendesk, job: Job) -> dict[str, Any]:
    """A job as `GET /api/v2/job_statuses/{id}` shows it; results appear once it completed."""
    finished = parse_time(job.updated_at)
    return {
        "id": job.id,
        "url": f"{fake.base_url}/api/v2/job_statuses/{job.id}.json",
        "job_type": "bulk_update",
        "total": len(job.tasks),
        "progress": len(job.results),
        "status": "completed" if job.done else "queued",
        "message": f"Completed at {_ruby_time(finished)}" if job.done else None,
        "results": job.results if job.done else None,
    }


def _ruby_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S +0000")


def add_routes(app: Flask, fake: FakeZendesk) -> None:
    @app.put("/api/v2/tickets/update_many.json")
    @app.put("/api/v2/tickets/update_many")
    def update_many() -> Response | tuple[Response, int]:
        batch = requested_changes()
        if isinstance(batch, tuple):
            return jsonify(batch[0]), batch[1]
        job = fake._start_job([ticket_task(fake, ticket_id, changes) for ticket_id, changes in batch])
        return jsonify({"job_status": job_status(fake, job)})

    @app.get("/api/v2/job_statuses/<job_id>")
    def show_job_status(job_id: str) -> Response | tuple[Response, int]:
        job = fake.jobs.get(job_id.removesuffix(".json"))
        if job is None:
            return jsonify(NOT_FOUND), 404
        return jsonify({"job_status": job_status(fake, job)})
