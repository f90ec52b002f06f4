"""The fake Freshdesk's REST API v2: agents, groups, contacts, companies, tickets, conversations, bulk jobs.

Validation follows Freshdesk's answers: `{"description": "Validation failed", "errors": [{field, message,
code}]}` with 400, unknown fields refused as `invalid_field`, `include` checked against what each endpoint
accepts, and an empty 404 for a missing record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from escalator.fakedesk.base import Job, answer, iso
from escalator.fakedesk.freshdesk.account import (
    CREATE_FIELDS,
    INCLUDES,
    OWN_AGENT_ID,
    PRIORITY_NAMES,
    TICKET_FIELDS,
    Problem,
    error,
    page_of,
)
from escalator.fakedesk.freshdesk.records import html_text

if TYPE_CHECKING:
    from escalator.fakedesk.freshdesk.desk import FakeFreshdesk

EMPTY = ("", "Request body is empty or not JSON", "invalid_json")
LIST_INCLUDES = ("requester", "stats", "description")
"""What `GET /api/v2/tickets?include=` accepts."""
ORDERS = ("created_at", "updated_at", "due_by", "status")
REQUESTER = (
    "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, unique_external_id attributes"
)


def _requester_summary(fake: FakeFreshdesk, ticket: Mapping[str, Any]) -> dict[str, Any]:
    requester = fake.person(ticket["requester_id"])
    return {key: requester.get(key) for key in ("id", "name", "email", "mobile", "phone")}


def stats(fake: FakeFreshdesk, ticket: Mapping[str, Any]) -> dict[str, Any]:
    """`include=stats`: when agents first and last answered publicly, and when the requester last did."""
    conversations = fake.conversations.get(ticket["id"], [])
    replies = [c["created_at"] for c in conversations if not c["incoming"] and not c["private"]]
    requester = [c["created_at"] for c in conversations if c["incoming"]]
    return {
        "agent_responded_at": replies[-1] if replies else None,
        "requester_responded_at": requester[-1] if requester else None,
        "first_responded_at": replies[0] if replies else None,
        "status_updated_at": ticket["updated_at"],
        "reopened_at": None,
        "resolved_at": ticket["updated_at"] if ticket["status"] == 4 else None,
        "closed_at": ticket["updated_at"] if ticket["status"] == 5 else None,
        "pending_since": ticket["updated_at"] if ticket["status"] == 3 else None,
    }


def ticket_problems(
    fake: FakeFreshdesk, changes: Mapping[str, Any], allowed: set[str] = TICKET_FIELDS
) -> list[Problem]:
    """What Freshdesk refuses in a ticket's fields (shared by update, create and bulk update)."""
    problems: list[Problem] = [
        (name, "Unexpected/invalid field in request", "invalid_field") for name in changes if name not in allowed
    ]
    if changes.get("group_id") is not None and changes["group_id"] not in fake.groups:
        problems.append(("group_id", "There is no group matching the given group_id", "invalid_value"))
    if changes.get("responder_id") is not None and changes["responder_id"] not in fake.agents:
        problems.append(("responder_id", "There is no agent matching the given responder_id", "invalid_value"))
    if "priority" in changes and changes["priority"] not in PRIORITY_NAMES:
        problems.append(("priority", "It should be one of these values: '1,2,3,4'", "invalid_value"))
    if "status" in changes and changes["status"] not in fake._statuses():
        problems.append(("status", "It should be one of the ticket statuses", "invalid_value"))
    tags = changes.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        problems.append(("tags", "It should be an Array of Strings", "datatype_mismatch"))
    return problems


def _create_problems(fake: FakeFreshdesk, body: Mapping[str, Any]) -> list[Problem]:
    problems = [
        (name, "It should be a/an String", "missing_field")
        for name in ("subject", "description")
        if not isinstance(body.get(name), str) or not body[name].strip()
    ]
    if body.get("requester_id") is None and not isinstance(body.get("email"), str):
        problems.append(("requester_id", REQUESTER, "missing_field"))
    elif body.get("requester_id") is not None and not fake.person(body["requester_id"]):
        problems.append(("requester_id", "There is no contact matching the given requester_id", "invalid_value"))
    related = body.get("related_ticket_ids", [])
    if not isinstance(related, list) or any(ticket_id not in fake.tickets for ticket_id in related):
        problems.append(("related_ticket_ids", "It should be an Array of existing ticket ids", "invalid_value"))
    return problems


def _requester(fake: FakeFreshdesk, body: Mapping[str, Any]) -> int:
    """`requester_id`, or the contact or agent with `email`, or a new contact with it (as Freshdesk does)."""
    if body.get("requester_id") is not None:
        return int(body["requester_id"])
    email = body["email"]
    people = [*fake.contacts.values(), *({"id": a["id"], **a["contact"]} for a in fake.agents.values())]
    found = next((person["id"] for person in people if person.get("email") == email), None)
    return found if found is not None else fake.add_contact(body.get("name") or email, email)


def create_ticket(fake: FakeFreshdesk) -> Response:
    """`POST /api/v2/tickets`: 201 with the ticket; `related_ticket_ids` makes it a tracker of those tickets."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        return error(400, EMPTY)
    problems = ticket_problems(fake, body, CREATE_FIELDS) + _create_problems(fake, body)
    if problems:
        return error(400, *problems)
    fields = {key: body[key] for key in body if key in TICKET_FIELDS | {"source"}}
    markup = (
        body["description"] if body["description"].lstrip().startswith("<") else f"<div>{body['description']}</div>"
    )
    ticket = fake._new_ticket(
        fields,
        (markup, html_text(markup)),
        _requester(fake, body),
        performer=OWN_AGENT_ID,
        related=body.get("related_ticket_ids"),
    )
    fake.writes.append({"ticket_id": ticket["id"], "call": "create", **body})
    return answer(ticket, 201)


def list_tickets(fake: FakeFreshdesk) -> Response:
    """`GET /api/v2/tickets`: by default the last 30 days' tickets, newest created first; `updated_since`,
    `order_by` (created_at, updated_at, due_by, status), `order_type`, `per_page` (<= 100), `page` (<= 300),
    `include` (requester, stats, description); deleted and spam tickets are not listed."""
    order_by = request.args.get("order_by", "created_at")
    order_type = request.args.get("order_type", "desc")
    if order_by not in ORDERS or order_type not in ("asc", "desc"):
        message = "It should be one of these values: 'created_at,due_by,updated_at,status'"
        return error(400, ("order_by", message, "invalid_value"))
    page = int(request.args.get("page", 1))
    if page > 300:
        return error(400, ("page", "You cannot access pages beyond 300", "invalid_value"))
    include = [item for item in request.args.get("include", "").split(",") if item]
    if any(item not in LIST_INCLUDES for item in include):
        message = "It should be one/a comma separated list of 'requester, stats, description'"
        return error(400, ("include", message, "invalid_value"))
    since_text = request.args.get("updated_since")
    per_page = min(100, max(1, int(request.args.get("per_page", 30))))
    # Times are all `%Y-%m-%dT%H:%M:%SZ`, so comparing the text compares the instants.
    if since_text:
        field, floor = "updated_at", iso(datetime.fromisoformat(since_text.replace("Z", "+00:00")))
    else:
        field, floor = "created_at", iso(datetime.now(UTC) - timedelta(days=30))
    with fake._lock:
        tickets = [t for t in fake.tickets.values() if not t.get("spam") and not t.get("deleted") and t[field] >= floor]
        tickets.sort(key=lambda t: (t[order_by] or "", t["id"]), reverse=order_type == "desc")
        items = [_listed(fake, ticket, include) for ticket in tickets[(page - 1) * per_page : page * per_page]]
    return jsonify(items)


def _listed(fake: FakeFreshdesk, ticket: Mapping[str, Any], include: list[str]) -> dict[str, Any]:
    item = {key: value for key, value in ticket.items() if key not in ("description", "description_text")}
    if "description" in include:
        item["description"], item["description_text"] = ticket["description"], ticket["description_text"]
    if "stats" in include:
        item["stats"] = stats(fake, ticket)
    if "requester" in include:
        item["requester"] = _requester_summary(fake, ticket)
    return item


def show_ticket(fake: FakeFreshdesk, ticket_id: int) -> Response | tuple[str, int]:
    ticket = fake.tickets.get(ticket_id)
    if ticket is None:
        return "", 404
    include = [item for item in request.args.get("include", "").split(",") if item]
    if any(item not in INCLUDES for item in include):
        message = f"It should be one/a comma separated list of '{', '.join(INCLUDES)}'"
        return error(400, ("include", message, "invalid_value"))
    body = dict(ticket)
    if "requester" in include:
        body["requester"] = _requester_summary(fake, ticket)
    if "company" in include and ticket.get("company_id") in fake.companies:
        body["company"] = {key: fake.companies[ticket["company_id"]][key] for key in ("id", "name")}
    if "conversations" in include:
        body["conversations"] = fake.conversations.get(ticket_id, [])[:10]
    if "stats" in include:
        body["stats"] = stats(fake, ticket)
    return jsonify(body)


def update_ticket(fake: FakeFreshdesk, ticket_id: int) -> Response | tuple[str, int]:
    if ticket_id not in fake.tickets:
        return "", 404
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict) or not changes:
        return error(400, EMPTY)
    problems = ticket_problems(fake, changes)
    if problems:
        return error(400, *problems)
    fake.writes.append({"ticket_id": ticket_id, "call": "update", **changes})
    return jsonify(fake._update(ticket_id, changes, performer=OWN_AGENT_ID))


def add_conversation(fake: FakeFreshdesk, ticket_id: int, kind: str) -> Response | tuple[str, int]:
    """`POST /tickets/{id}/notes` (`private` defaults to true; `notify_emails` mails agents) or `/reply`."""
    if ticket_id not in fake.tickets:
        return "", 404
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("body"), str) or not payload["body"]:
        return error(400, ("body", "It should be a/an String", "missing_field"))
    emails = payload.get("notify_emails") if kind == "note" else None
    if emails is not None and (not isinstance(emails, list) or not all(isinstance(item, str) for item in emails)):
        return error(400, ("notify_emails", "It should be an Array of Strings", "datatype_mismatch"))
    fake.writes.append({"ticket_id": ticket_id, "call": kind, **payload})
    if kind == "note":
        stored = fake._converse(
            ticket_id,
            payload["body"],
            private=bool(payload.get("private", True)),
            user_id=OWN_AGENT_ID,
            incoming=False,
            source=2,
            notify_emails=emails,
        )
    else:
        stored = fake._converse(ticket_id, payload["body"], private=False, user_id=OWN_AGENT_ID, incoming=False)
    return answer(stored, 201)


def bulk_update(fake: FakeFreshdesk) -> Response:
    """`POST /api/v2/tickets/bulk_update` `{"bulk_action": {"ids", "properties", "reply"?}}`: 202 with the
    job's id; each ticket is then saved on its own (its webhooks fire as its automation rules would)."""
    action = (request.get_json(silent=True) or {}).get("bulk_action")
    if not isinstance(action, dict):
        return error(400, ("bulk_action", "It should be a/an key/value pair", "missing_field"))
    ids, properties, reply = action.get("ids"), action.get("properties") or {}, action.get("reply")
    problems: list[Problem] = []
    if not isinstance(ids, list) or not ids or not all(isinstance(item, int) for item in ids):
        problems.append(("ids", "It should be a non-empty Array of ticket ids", "missing_field"))
    if not isinstance(properties, dict) or (not properties and reply is None):
        problems.append(("properties", "It should be a/an key/value pair", "missing_field"))
    elif properties:
        problems += [(f"properties.{name}", message, code) for name, message, code in ticket_problems(fake, properties)]
    if reply is not None and (not isinstance(reply, dict) or not isinstance(reply.get("body"), str)):
        problems.append(("reply.body", "It should be a/an String", "missing_field"))
    if problems:
        return error(400, *problems)
    job = fake._start_job([_bulk_task(fake, ticket_id, properties, reply) for ticket_id in ids or []])
    return answer({"job_id": job.id, "href": f"{fake.base_url}/api/v2/jobs/{job.id}"}, 202)


def _bulk_task(
    fake: FakeFreshdesk, ticket_id: int, properties: dict[str, Any], reply: dict[str, Any] | None
) -> Callable[[str], dict[str, Any]]:
    def run(job_id: str) -> dict[str, Any]:
        if ticket_id not in fake.tickets:
            return {"id": ticket_id, "success": False, "errors": [{"message": "There is no ticket with this id"}]}
        fake.writes.append({"ticket_id": ticket_id, "call": "bulk_update", "job_id": job_id, **properties})
        if properties:
            fake._update(ticket_id, properties, performer=OWN_AGENT_ID)
        if reply is not None:
            fake._converse(ticket_id, reply["body"], private=False, user_id=OWN_AGENT_ID, incoming=False)
        return {"id": ticket_id, "success": True}

    return run


def job_view(job: Job) -> dict[str, Any]:
    """`GET /api/v2/jobs/{id}`: the job's status and, once it completed, each ticket's result."""
    status = "completed" if job.done else "queued"
    progress = 100 * len(job.results) // max(1, len(job.tasks))
    body = {"id": job.id, "status": status, "progress": progress, "created_at": job.created_at}
    return {**body, "updated_at": job.updated_at, "data": job.results if job.done else []}


def add_routes(app: Flask, fake: FakeFreshdesk) -> None:
    @app.get("/api/v2/agents/me")
    def me() -> Response:
        return jsonify(fake.agents[OWN_AGENT_ID])

    @app.get("/api/v2/agents/<int:agent_id>")
    def agent(agent_id: int) -> Response | tuple[str, int]:
        found = fake.agents.get(agent_id)
        return jsonify(found) if found else ("", 404)

    @app.get("/api/v2/agents")
    def agents() -> Response:
        email = request.args.get("email")
        return page_of([a for a in fake.agents.values() if email is None or a["contact"]["email"] == email])

    @app.get("/api/v2/groups")
    def groups() -> Response:
        items = [
            {"id": gid, "name": name, "description": None, "escalate_to": None, "unassigned_for": None}
            for gid, name in sorted(fake.groups.items())
        ]
        return page_of(items)

    @app.get("/api/v2/contacts/<int:contact_id>")
    def contact(contact_id: int) -> Response | tuple[str, int]:
        found = fake.contacts.get(contact_id)
        return jsonify(found) if found else ("", 404)

    @app.get("/api/v2/companies/<int:company_id>")
    def company(company_id: int) -> Response | tuple[str, int]:
        found = fake.companies.get(company_id)
        return jsonify(found) if found else ("", 404)

    @app.get("/api/v2/tickets/<int:ticket_id>/conversations")
    def conversations(ticket_id: int) -> Response | tuple[str, int]:
        if ticket_id not in fake.tickets:
            return "", 404
        return page_of(fake.conversations.get(ticket_id, []))

    @app.get("/api/v2/jobs/<job_id>")
    def show_job(job_id: str) -> Response | tuple[str, int]:
        job = fake.jobs.get(job_id)
        return jsonify(job_view(job)) if job else ("", 404)

    add_ticket_routes(app, fake)


def add_ticket_routes(app: Flask, fake: FakeFreshdesk) -> None:
    views: dict[str, Callable[..., Response | tuple[str, int]]] = {
        "GET /api/v2/tickets": lambda: list_tickets(fake),
        "POST /api/v2/tickets": lambda: create_ticket(fake),
        "POST /api/v2/tickets/bulk_update": lambda: bulk_update(fake),
        "GET /api/v2/tickets/<int:ticket_id>": lambda ticket_id: show_ticket(fake, ticket_id),
        "PUT /api/v2/tickets/<int:ticket_id>": lambda ticket_id: update_ticket(fake, ticket_id),
        "POST /api/v2/tickets/<int:ticket_id>/notes": lambda ticket_id: add_conversation(fake, ticket_id, "note"),
        "POST /api/v2/tickets/<int:ticket_id>/reply": lambda ticket_id: add_conversation(fake, ticket_id, "reply"),
    }
    for line, view in views.items():
        method, rule = line.split(" ")
        app.add_url_rule(rule, f"{method} {rule}", view, methods=[method])
