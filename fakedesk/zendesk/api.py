"""The fake Zendesk's ticket API: show, create and update tickets, their comments, users, organizations, groups.

Validation follows Zendesk's answers: 404 `RecordNotFound`, 400 when the `ticket` object is missing, 422
`RecordInvalid` with `details` per field, 409 `UpdateConflict` for a stale `safe_update`. The fake is stricter
than Zendesk in one place on purpose: a comment must say `public` explicitly, as Escalator always does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from escalator.fakedesk.base import offset_page, query_int
from escalator.fakedesk.zendesk.account import NOT_FOUND, OWN_USER_ID

if TYPE_CHECKING:
    from escalator.fakedesk.zendesk.desk import FakeZendesk

MISSING = {"error": "RecordInvalid", "description": "ticket missing"}
CONFLICT = {"error": "UpdateConflict", "description": "Safe Update prevented the update due to outdated ticket data."}
TYPES = (None, "question", "incident", "problem", "task")
PRIORITIES = (None, "urgent", "high", "normal", "low")
STATUSES = (None, "new", "open", "pending", "hold", "solved", "closed")


def _invalid(message: str) -> list[dict[str, str]]:
    return [{"description": message}]


def record_details(fake: FakeZendesk, changes: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """What Zendesk refuses in a ticket's fields, by field (empty: nothing): `details` of a 422."""
    details: dict[str, list[dict[str, str]]] = {}
    if changes.get("group_id") is not None and changes["group_id"] not in fake.groups:
        details["group"] = _invalid("Group is invalid")
    if changes.get("type") not in TYPES:
        details["type"] = _invalid(f"Type: {changes['type']} is not a valid ticket type")
    problem = changes.get("problem_id")
    if problem is not None and fake.tickets.get(problem, {}).get("type") != "problem":
        details["problem_id"] = _invalid("Problem is invalid: it must be an existing ticket of type problem")
    for item in changes.get("followers", []):
        user = fake.users.get(item.get("user_id") or fake._user_by_email(item.get("user_email")) or 0)
        if user is None or user["role"] == "end-user" or item.get("action", "put") not in ("put", "delete"):
            details["followers"] = _invalid(f"Follower is invalid: {item}")
    return details


def update_refusal(
    fake: FakeZendesk, ticket: dict[str, Any], changes: dict[str, Any]
) -> tuple[dict[str, Any], int] | None:
    """Why Zendesk would refuse `changes` to `ticket` (body, status), or None: one save's validation, shared by
    `PUT /tickets/{id}` and each ticket of an update_many job."""
    if "comment" in changes and ("body" not in changes["comment"] or "public" not in changes["comment"]):
        return {"error": "RecordInvalid", "description": "comment needs body and public"}, 422
    details = record_details(fake, changes)
    if details:
        return {"error": "RecordInvalid", "description": "Record validation errors", "details": details}, 422
    if changes.get("safe_update") and changes.get("updated_stamp") != ticket["updated_at"]:
        return CONFLICT, 409
    return None


def _create_details(fake: FakeZendesk, fields: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    details = record_details(fake, fields)
    comment = fields.get("comment")
    if not isinstance(comment, dict) or not str(comment.get("body") or comment.get("html_body") or "").strip():
        details["description"] = _invalid("Description: cannot be blank")
    if fields.get("status") not in STATUSES:
        details["status"] = _invalid(f"Status: {fields['status']} is not valid")
    if fields.get("priority") not in PRIORITIES:
        details["priority"] = _invalid(f"Priority: {fields['priority']} is not valid")
    if fields.get("requester_id") is not None and fields["requester_id"] not in fake.users:
        details["requester"] = _invalid("Requester is invalid")
    return details


def _requester(fake: FakeZendesk, fields: dict[str, Any]) -> int:
    """`requester_id`, or `requester: {name, email}` (found by email, else a new end user), else the caller."""
    if fields.get("requester_id") is not None:
        return int(fields["requester_id"])
    requester = fields.get("requester")
    if isinstance(requester, dict) and requester.get("email"):
        found = fake._user_by_email(requester["email"])
        return found or fake.add_user(requester.get("name") or requester["email"], requester["email"])
    return OWN_USER_ID


def create_ticket(fake: FakeZendesk) -> tuple[Response, int]:
    """`POST /api/v2/tickets`: 201 `{"ticket", "audit"}` with a Location header; sends `ticket.created`."""
    fields = (request.get_json(silent=True) or {}).get("ticket")
    if not isinstance(fields, dict):
        return jsonify(MISSING), 400
    details = _create_details(fake, fields)
    if details:
        return jsonify({"error": "RecordInvalid", "description": "Record validation errors", "details": details}), 422
    comment = fields["comment"]
    prepared = {
        **{key: fields.get(key) for key in ("priority", "type", "problem_id", "group_id", "assignee_id", "status")},
        "external_id": fields.get("external_id"),
        "subject": fields.get("subject") or "",
        "tags": list(fields.get("tags") or []),
        "follower_ids": fake._follower_ids([], fields.get("followers", [])),
        **({"author_id": comment["author_id"]} if comment.get("author_id") else {}),
    }
    body, public = str(comment.get("body") or comment.get("html_body")), bool(comment.get("public", True))
    ticket = fake._new_ticket(prepared, body, public, _requester(fake, fields), actor=OWN_USER_ID, channel="api")
    fake.writes.append({"ticket_id": ticket["id"], "call": "create", **fields})
    response = jsonify({"ticket": ticket, "audit": fake.audits[ticket["id"]][-1]})
    response.headers["Location"] = f"{fake.base_url}/api/v2/tickets/{ticket['id']}.json"
    return response, 201


def add_routes(app: Flask, fake: FakeZendesk) -> None:
    @app.get("/api/v2/users/me.json")
    def me() -> Response:
        return jsonify({"user": fake.users[OWN_USER_ID]})

    @app.get("/api/v2/groups.json")
    def groups() -> Response:
        page = query_int("page", 1)
        items = sorted(fake.groups.items())
        chunk, more = offset_page(items, page, 100)
        return jsonify(
            {
                "groups": [{"id": gid, "name": name, "deleted": False} for gid, name in chunk],
                "next_page": f"{fake.base_url}/api/v2/groups.json?page={page + 1}" if more else None,
                "count": len(items),
            }
        )

    @app.post("/api/v2/tickets.json")
    @app.post("/api/v2/tickets")
    def create() -> tuple[Response, int]:
        return create_ticket(fake)

    @app.get("/api/v2/tickets.json")
    def list_by_external_id() -> Response | tuple[Response, int]:
        """`GET /api/v2/tickets.json?external_id=`: the tickets carrying that external id (the fake lists only
        by external id)."""
        wanted = request.args.get("external_id")
        if not wanted:
            return jsonify({"error": "InvalidValue", "description": "the fake lists tickets by external_id"}), 400
        found = [ticket for ticket in fake.tickets.values() if ticket.get("external_id") == wanted]
        return jsonify({"tickets": found, "next_page": None, "count": len(found)})

    @app.get("/api/v2/tickets/show_many.json")
    def show_many() -> Response | tuple[Response, int]:
        try:
            ids = [int(part) for part in request.args.get("ids", "").split(",") if part]
        except ValueError:
            return jsonify({"error": "InvalidValue", "description": "ids must be ticket ids"}), 400
        if len(ids) > 100:
            return jsonify({"error": "InvalidValue", "description": "at most 100 ids"}), 400
        tickets = [fake.tickets[i] for i in ids if i in fake.tickets]
        include = request.args.get("include", "").split(",")
        body: dict[str, Any] = {"tickets": tickets}
        if "users" in include:  # sideloads, as Zendesk's show_many gives them
            body["users"] = [fake.users[i] for i in sorted({ticket["requester_id"] for ticket in tickets})]
        if "organizations" in include:
            wanted = sorted({ticket["organization_id"] for ticket in tickets if ticket["organization_id"]})
            body["organizations"] = [fake.organizations[i] for i in wanted if i in fake.organizations]
        return jsonify(body)

    @app.get("/api/v2/tickets/<int:ticket_id>.json")
    def show(ticket_id: int) -> Response | tuple[Response, int]:
        ticket = fake.tickets.get(ticket_id)
        if ticket is None:
            return jsonify(NOT_FOUND), 404
        include = request.args.get("include", "").split(",")
        body: dict[str, Any] = {"ticket": ticket}
        if "users" in include:
            body["users"] = [fake.users[ticket["requester_id"]]]
        if "organizations" in include:
            org = fake.organizations.get(ticket["organization_id"])
            body["organizations"] = [org] if org else []
        return jsonify(body)

    @app.put("/api/v2/tickets/<int:ticket_id>.json")
    def update(ticket_id: int) -> Response | tuple[Response, int]:
        ticket = fake.tickets.get(ticket_id)
        if ticket is None:
            return jsonify(NOT_FOUND), 404
        changes = (request.get_json(silent=True) or {}).get("ticket")
        if not isinstance(changes, dict):
            return jsonify(MISSING), 400
        refusal = update_refusal(fake, ticket, changes)
        if refusal is not None:
            return jsonify(refusal[0]), refusal[1]
        fake.writes.append({"ticket_id": ticket_id, **changes})
        updated = fake._update(ticket_id, changes, actor=OWN_USER_ID)
        return jsonify({"ticket": updated, "audit": fake.audits[ticket_id][-1]})

    @app.get("/api/v2/users/<int:user_id>.json")
    def show_user(user_id: int) -> Response | tuple[Response, int]:
        user = fake.users.get(user_id)
        if user is None:
            return jsonify(NOT_FOUND), 404
        return jsonify({"user": user})

    @app.get("/api/v2/organizations/<int:org_id>.json")
    def show_organization(org_id: int) -> Response | tuple[Response, int]:
        organization = fake.organizations.get(org_id)
        if organization is None:
            return jsonify(NOT_FOUND), 404
        return jsonify({"organization": organization})

    @app.get("/api/v2/tickets/<int:ticket_id>/comments.json")
    def comments(ticket_id: int) -> Response:
        items = list(fake.comments.get(ticket_id, []))
        if request.args.get("sort_order") == "desc":
            items.reverse()
        items = items[: int(request.args.get("per_page", 100))]
        body: dict[str, Any] = {"comments": items, "next_page": None, "count": len(items)}
        if "users" in request.args.get("include", ""):
            body["users"] = [fake.users[c["author_id"]] for c in items if c["author_id"] in fake.users]
        return jsonify(body)
