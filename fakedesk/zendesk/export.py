"""The fake Zendesk's incremental exports and ticket search count.

Both exports hold back the most recent `export_delay` seconds (Zendesk: "the most recent minute"), refuse a
`start_time` younger than a minute, and share the export budget (`enforce_export_limit()`, Zendesk's 10 a
minute). The ticket export pages by cursor; the ticket-event export is time-based, as Zendesk's is.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from escalator.fakedesk.base import admit, answer, parse_time, query_int
from escalator.fakedesk.zendesk.audits import ticket_event, timestamp

if TYPE_CHECKING:
    from escalator.fakedesk.zendesk.desk import FakeZendesk

EVENTS_PER_PAGE = 1000
"""Zendesk's page of a time-based export."""


def export_refusal(fake: FakeZendesk) -> Response | None:
    """429 + Retry-After when the export budget is spent (it spends nothing then), else None."""
    if fake.export_bucket is None:
        return None
    with fake._lock:
        wait = admit([fake.export_bucket])
        if wait <= 0:
            return None
        fake.rate_limited.append((request.method, request.path))
    response = answer({"error": "APIRateLimitExceeded", "description": "Too many export requests"}, 429)
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response


def start_time(now: float) -> int | Response:
    """The required `start_time`, at least a minute old, or Zendesk's 400."""
    start = request.args.get("start_time")
    if start is None or not start.isdigit():
        return answer({"error": "InvalidValue", "description": "start_time is required"}, 400)
    if int(start) > now - 60:
        description = "Too recent start_time. Use a start_time older than 1 minute"
        return answer({"error": "InvalidValue", "description": description}, 400)
    return int(start)


def metric_set(fake: FakeZendesk, ticket: dict[str, Any]) -> dict[str, Any]:
    """A ticket's metric set as the export sideloads it: replies and the first reply time, from comments."""
    created = parse_time(ticket["created_at"])
    replies = [
        c
        for c in fake.comments.get(ticket["id"], [])
        if c["public"] and fake.users.get(c["author_id"], {}).get("role", "end-user") != "end-user"
    ]
    first = (parse_time(replies[0]["created_at"]) - created).total_seconds() if replies else None
    return {
        "ticket_id": ticket["id"],
        "created_at": ticket["created_at"],
        "updated_at": ticket["updated_at"],
        "replies": len(replies),
        "reply_time_in_minutes": {"calendar": None if first is None else int(first // 60), "business": None},
        "reply_time_in_seconds": {"calendar": None if first is None else int(first)},
        "requester_updated_at": None,
        "assignee_updated_at": None,
        "status_updated_at": ticket["updated_at"],
        "latest_comment_added_at": fake.comments[ticket["id"]][-1]["created_at"]
        if fake.comments.get(ticket["id"])
        else None,
    }


def _after(now: float) -> tuple[int, ...] | Response:
    """Where the ticket export resumes: the (updated_at, id) in its cursor, or just before `start_time`."""
    cursor = request.args.get("cursor")
    if cursor:
        try:
            return tuple(int(part) for part in base64.urlsafe_b64decode(cursor.encode()).decode().split("|"))
        except ValueError:
            return answer({"error": "InvalidCursor", "description": "Invalid cursor"}, 422)
    start = start_time(now)
    return start if isinstance(start, Response) else (start - 1, 2**62)


def export_tickets(fake: FakeZendesk) -> Response | tuple[Response, int]:
    """`GET /api/v2/incremental/tickets/cursor`: tickets ordered by (updated_at, id) after a cursor or a
    start time, without the most recent `export_delay` seconds; the cursor encodes the last one listed."""
    now = datetime.now(UTC).timestamp()
    refusal = export_refusal(fake)
    if refusal is not None:
        return refusal
    per_page = query_int("per_page", 1000, high=1000)
    after = _after(now)
    if isinstance(after, Response):
        return after
    horizon = now - fake.export_delay
    with fake._lock:
        listed = sorted(
            (int(parse_time(ticket["updated_at"]).timestamp()), ticket_id, dict(ticket))
            for ticket_id, ticket in fake.tickets.items()
        )
        eligible = [item for item in listed if (item[0], item[1]) > after and item[0] <= horizon]
        page = eligible[:per_page]
        with_metrics = "metric_sets" in request.args.get("include", "")
        metrics = [metric_set(fake, item[2]) for item in page] if with_metrics else None
    last = (page[-1][0], page[-1][1]) if page else after
    after_cursor = base64.urlsafe_b64encode(f"{last[0]}|{last[1]}".encode()).decode()
    body: dict[str, Any] = {
        "tickets": [{**item[2], "generated_timestamp": item[0]} for item in page],
        "after_cursor": after_cursor,
        "after_url": f"{fake.base_url}/api/v2/incremental/tickets/cursor.json?cursor={after_cursor}",
        "before_cursor": None,
        "before_url": None,
        "end_of_stream": len(eligible) <= per_page,
    }
    if metrics is not None:
        body["metric_sets"] = metrics
    return jsonify(body)


def export_ticket_events(fake: FakeZendesk) -> Response | tuple[Response, int]:
    """`GET /api/v2/incremental/ticket_events?start_time=`: every audit since `start_time` as a ticket event
    with its `child_events`, oldest first, up to `per_page` (1000) a page. As in Zendesk's time-based exports,
    a page never splits a second (it runs over rather than cut the events sharing the last timestamp);
    `next_page` resumes at `end_time`, so the events of that second can come again: dedupe by id."""
    now = datetime.now(UTC).timestamp()
    refusal = export_refusal(fake)
    if refusal is not None:
        return refusal
    start = start_time(now)
    if isinstance(start, Response):
        return start
    per_page = query_int("per_page", EVENTS_PER_PAGE, high=EVENTS_PER_PAGE)
    with_comments = "comment_events" in request.args.get("include", "").split(",")
    horizon = now - fake.export_delay
    with fake._lock:
        eligible = [audit for audit in fake.audit_log.all() if start <= timestamp(audit) <= horizon]
        page = eligible[:per_page]
        page += [audit for audit in eligible[per_page:] if page and timestamp(audit) == timestamp(page[-1])]
        events = [ticket_event(audit, with_comments) for audit in page]
    end_time = events[-1]["timestamp"] if events else start
    include = "&include=comment_events" if with_comments else ""
    return jsonify(
        {
            "ticket_events": events,
            "next_page": f"{fake.base_url}/api/v2/incremental/ticket_events.json?start_time={end_time}{include}",
            "count": len(events),
            "end_of_stream": len(page) == len(eligible),
            "end_time": end_time,
        }
    )


def search_count(fake: FakeZendesk) -> Response:
    """`GET /api/v2/search/count?query=type:ticket status<solved` (the only queries the fake understands)."""
    query = request.args.get("query", "")
    with fake._lock:
        tickets = [t for t in fake.tickets.values() if t["status"] != "deleted"]
        if "status<solved" in query:
            tickets = [t for t in tickets if t["status"] in ("new", "open", "pending", "hold")]
    return jsonify({"count": len(tickets) if "type:ticket" in query else 0})


def add_routes(app: Flask, fake: FakeZendesk) -> None:
    @app.get("/api/v2/incremental/tickets/cursor.json")
    @app.get("/api/v2/incremental/tickets/cursor")
    def export() -> Response | tuple[Response, int]:
        return export_tickets(fake)

    @app.get("/api/v2/incremental/ticket_events.json")
    @app.get("/api/v2/incremental/ticket_events")
    def ticket_events() -> Response | tuple[Response, int]:
        return export_ticket_events(fake)

    @app.get("/api/v2/search/count.json")
    @app.get("/api/v2/search/count")
    def count() -> Response:
        return search_count(fake)
