"""The fake Zendesk's newer endpoints, driven over HTTP as a client would: ticket creation, ticket type,
problem links and followers, update_many with its job statuses, audits, the incremental ticket-event export,
users' locale and time zone, and the apps endpoints `escalator install` reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from escalator.fakedesk.zendesk import AGENT_ID, OWN_USER_ID, FakeZendesk

AUTH = {"Authorization": "Bearer token"}


@pytest.fixture
def desk() -> Iterator[FakeZendesk]:
    fake = FakeZendesk(webhook_url="http://unused.invalid/", webhook_secret="s3")
    fake.start()
    yield fake
    fake.stop()


def call(desk: FakeZendesk, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{desk.base_url}{path}", headers=AUTH, timeout=5, **kwargs)


def event_types(desk: FakeZendesk) -> list[str]:
    return [payload["type"].removeprefix("zen:event-type:ticket.") for payload in desk.pending_webhooks()]


def test_creating_a_problem_ticket_answers_201_and_sends_ticket_created(desk: FakeZendesk) -> None:
    body = {
        "ticket": {
            "subject": "Login outage",
            "type": "problem",
            "comment": {"body": "Many customers cannot log in.", "public": False},
            "group_id": 102,
            "priority": "urgent",
            "tags": ["outage"],
        }
    }
    answer = call(desk, "POST", "/api/v2/tickets.json", json=body)
    assert answer.status_code == 201
    ticket = answer.json()["ticket"]
    assert answer.headers["Location"] == f"{desk.base_url}/api/v2/tickets/{ticket['id']}.json"
    assert (ticket["type"], ticket["group_id"], ticket["priority"], ticket["tags"]) == (
        "problem",
        102,
        "urgent",
        ["outage"],
    )
    assert (ticket["requester_id"], ticket["submitter_id"], ticket["status"]) == (OWN_USER_ID, OWN_USER_ID, "new")
    assert ticket["description"] == "Many customers cannot log in." and ticket["is_public"] is False
    assert desk.comments[ticket["id"]][0]["public"] is False
    (created,) = desk.pending_webhooks()
    assert created["type"] == "zen:event-type:ticket.created" and created["detail"]["type"] == "PROBLEM"
    assert created["detail"]["actor_id"] == str(OWN_USER_ID)
    assert desk.writes == [{"ticket_id": ticket["id"], "call": "create", **body["ticket"]}]


def test_a_created_ticket_can_name_its_requester_by_email(desk: FakeZendesk) -> None:
    body = {
        "ticket": {
            "subject": "Hi",
            "comment": {"body": "Hello"},
            "requester": {"name": "Ann", "email": "ann@x.example"},
        }
    }
    ticket = call(desk, "POST", "/api/v2/tickets", json=body).json()["ticket"]
    requester = desk.users[ticket["requester_id"]]
    assert (requester["name"], requester["email"], requester["role"]) == ("Ann", "ann@x.example", "end-user")
    again = call(desk, "POST", "/api/v2/tickets", json=body).json()["ticket"]
    assert again["requester_id"] == ticket["requester_id"], "found by email, not created twice"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": "No comment"}, "description"),
        ({"comment": {"body": "x"}, "type": "bug"}, "type"),
        ({"comment": {"body": "x"}, "priority": "critical"}, "priority"),
        ({"comment": {"body": "x"}, "status": "escalated"}, "status"),
        ({"comment": {"body": "x"}, "group_id": 999}, "group"),
        ({"comment": {"body": "x"}, "requester_id": 424242}, "requester"),
        ({"comment": {"body": "x"}, "problem_id": 424242}, "problem_id"),
    ],
)
def test_an_invalid_ticket_is_refused_with_zendesks_422(desk: FakeZendesk, fields: dict[str, Any], field: str) -> None:
    answer = call(desk, "POST", "/api/v2/tickets.json", json={"ticket": fields})
    assert answer.status_code == 422
    assert answer.json()["error"] == "RecordInvalid" and list(answer.json()["details"]) == [field]
    assert desk.tickets == {} and desk.pending_webhooks() == []


def test_an_incident_links_to_its_problem_and_followers_are_set_as_zendesk_takes_them(desk: FakeZendesk) -> None:
    requester = desk.add_user("Jane", "jane@x.example")
    problem = call(desk, "POST", "/api/v2/tickets.json", json={"ticket": {"type": "problem", "comment": {"body": "p"}}})
    problem_id = problem.json()["ticket"]["id"]
    incident = desk.create_ticket("Cannot log in", "Help", requester)
    desk.clear_webhooks()
    changes = {
        "type": "incident",
        "problem_id": problem_id,
        "followers": [{"user_id": AGENT_ID, "action": "put"}, {"user_email": "escalator@acme.example"}],
    }
    answer = call(desk, "PUT", f"/api/v2/tickets/{incident['id']}.json", json={"ticket": changes})
    ticket = answer.json()["ticket"]
    assert (ticket["type"], ticket["problem_id"], ticket["follower_ids"]) == (
        "incident",
        problem_id,
        [AGENT_ID, OWN_USER_ID],
    )
    assert event_types(desk) == [], "type, problem link and followers send no event Escalator subscribes to"
    removed = {"followers": [{"user_id": AGENT_ID, "action": "delete"}]}
    assert call(desk, "PUT", f"/api/v2/tickets/{incident['id']}.json", json={"ticket": removed}).json()["ticket"][
        "follower_ids"
    ] == [OWN_USER_ID]
    refused = call(
        desk, "PUT", f"/api/v2/tickets/{incident['id']}.json", json={"ticket": {"followers": [{"user_id": requester}]}}
    )
    assert refused.status_code == 422 and "followers" in refused.json()["details"], "end users cannot follow"


def test_update_many_with_ids_applies_one_change_to_each_ticket_for_one_update_token(desk: FakeZendesk) -> None:
    requester = desk.add_user("Jane", "jane@x.example")
    ids = [desk.create_ticket(f"T{n}", "d", requester)["id"] for n in range(3)]
    desk.clear_webhooks()
    desk.enforce_rate_limits(requests_per_period=100, ticket_updates_per_period=5)
    change = {"priority": "high", "comment": {"body": "We are on it.", "public": True}}
    answer = call(
        desk,
        "PUT",
        "/api/v2/tickets/update_many.json",
        params={"ids": ",".join(map(str, ids))},
        json={"ticket": change},
    )
    status = answer.json()["job_status"]
    assert answer.status_code == 200 and status["status"] == "completed"
    assert (status["total"], status["progress"]) == (3, 3)
    assert status["results"] == [{"id": i, "action": "update", "status": "Updated", "success": True} for i in ids]
    assert answer.headers["Zendesk-RateLimit-tickets-update"].startswith("total=5; remaining=4;"), "one token per call"
    assert [desk.tickets[i]["priority"] for i in ids] == ["high"] * 3
    assert [c["body"] for i in ids for c in desk.comments[i][1:]] == ["We are on it."] * 3
    assert event_types(desk) == ["priority_changed", "comment_added"] * 3, "one save per ticket, as single updates"
    assert [(w["ticket_id"], w["job_id"]) for w in desk.writes] == [(i, status["id"]) for i in ids]
    shown = call(desk, "GET", f"/api/v2/job_statuses/{status['id']}.json").json()["job_status"]
    assert shown == status and shown["url"] == f"{desk.base_url}/api/v2/job_statuses/{status['id']}.json"


def test_update_many_with_tickets_applies_each_its_own_change_and_reports_failures(desk: FakeZendesk) -> None:
    requester = desk.add_user("Jane", "jane@x.example")
    first, second = (desk.create_ticket(f"T{n}", "d", requester)["id"] for n in range(2))
    tickets = [{"id": first, "status": "pending"}, {"id": second, "group_id": 999}, {"id": 777, "status": "open"}]
    results = call(desk, "PUT", "/api/v2/tickets/update_many", json={"tickets": tickets}).json()["job_status"][
        "results"
    ]
    assert results[0] == {"id": first, "action": "update", "status": "Updated", "success": True}
    assert (results[1]["success"], results[1]["error"]) == (False, "RecordInvalid")
    assert (results[2]["success"], results[2]["error"]) == (False, "RecordNotFound")
    assert desk.tickets[first]["status"] == "pending" and desk.tickets[second]["group_id"] == 101
    assert [write["ticket_id"] for write in desk.writes] == [first]


def test_update_many_refuses_more_than_100_tickets_and_a_body_without_ids(desk: FakeZendesk) -> None:
    ids = ",".join(str(n) for n in range(1, 102))
    too_many = call(
        desk, "PUT", "/api/v2/tickets/update_many.json", params={"ids": ids}, json={"ticket": {"status": "open"}}
    )
    assert too_many.status_code == 400 and too_many.json()["error"] == "InvalidValue"
    assert call(desk, "PUT", "/api/v2/tickets/update_many.json", json={"ticket": {"status": "open"}}).status_code == 400
    assert desk.jobs == {} and desk.writes == []
    assert call(desk, "GET", "/api/v2/job_statuses/nope.json").status_code == 404


def test_a_held_job_stays_queued_until_it_runs(desk: FakeZendesk) -> None:
    ticket = desk.create_ticket("T", "d", desk.add_user("Jane", "jane@x.example"))
    desk.hold_jobs = True
    queued = call(
        desk, "PUT", "/api/v2/tickets/update_many.json", json={"tickets": [{"id": ticket["id"], "priority": "low"}]}
    )
    status = queued.json()["job_status"]
    assert (status["status"], status["progress"], status["results"]) == ("queued", 0, None)
    assert ticket["priority"] is None, "nothing applied before the job runs"
    desk.run_jobs()
    done = call(desk, "GET", f"/api/v2/job_statuses/{status['id']}").json()["job_status"]
    assert done["status"] == "completed" and done["message"].startswith("Completed at ")
    assert ticket["priority"] == "low"


def _ticket_with_history(desk: FakeZendesk) -> dict[str, Any]:
    requester = desk.add_user("Jane", "jane@x.example")
    ticket = desk.create_ticket("Cannot log in", "Help", requester, priority="normal", tags=["web"])
    desk.agent_update(ticket["id"], status="open", priority="high")
    update = {
        "comment": {"body": "Escalated.", "public": False},
        "additional_tags": ["l2"],
        "metadata": {"by": "escalator"},
    }
    call(desk, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": update})
    desk.customer_comment(ticket["id"], "Any news?")
    return ticket


def test_audits_record_creation_changes_and_comments_as_they_happen(desk: FakeZendesk) -> None:
    ticket = _ticket_with_history(desk)
    body = call(desk, "GET", f"/api/v2/tickets/{ticket['id']}/audits.json").json()
    assert body["count"] == 4 and body["next_page"] is None and body["previous_page"] is None
    created, changed, escalated, commented = body["audits"]
    creates = {event["field_name"]: event["value"] for event in created["events"] if event["type"] == "Create"}
    assert creates == {"subject": "Cannot log in", "status": "new", "priority": "normal", "group_id": 101,
                       "requester_id": ticket["requester_id"], "tags": ["web"]}  # fmt: skip
    assert created["events"][-1]["type"] == "Comment" and created["events"][-1]["body"] == "Help"
    assert [(e["field_name"], e["previous_value"], e["value"]) for e in changed["events"]] == [
        ("priority", "normal", "high"),
        ("status", "new", "open"),
    ]
    assert changed["author_id"] == AGENT_ID and changed["via"]["channel"] == "web"
    assert escalated["author_id"] == OWN_USER_ID and escalated["via"]["channel"] == "api"
    assert escalated["metadata"]["custom"] == {"by": "escalator"}, "an update's metadata lands in its audit"
    tags, comment = escalated["events"]
    assert (tags["field_name"], tags["previous_value"], tags["value"]) == ("tags", ["web"], ["web", "l2"])
    assert (comment["type"], comment["body"], comment["public"], comment["author_id"]) == (
        "Comment",
        "Escalated.",
        False,
        OWN_USER_ID,
    )
    assert commented["events"][0]["author_id"] == ticket["requester_id"]
    assert [audit["created_at"] for audit in body["audits"]] == sorted(audit["created_at"] for audit in body["audits"])
    assert escalated["created_at"] == desk.audits[ticket["id"]][2]["created_at"]


def test_audits_page_by_offset_and_by_cursor(desk: FakeZendesk) -> None:
    ticket = _ticket_with_history(desk)
    path = f"/api/v2/tickets/{ticket['id']}/audits.json"
    first = call(desk, "GET", path, params={"per_page": 3}).json()
    assert len(first["audits"]) == 3 and first["next_page"].endswith("per_page=3&page=2")
    second = requests.get(first["next_page"], headers=AUTH, timeout=5).json()
    assert [a["id"] for a in first["audits"] + second["audits"]] == [a["id"] for a in desk.audits[ticket["id"]]]
    cursor = call(desk, "GET", path, params={"page[size]": 2}).json()
    assert cursor["meta"]["has_more"] is True and len(cursor["audits"]) == 2
    rest = requests.get(cursor["links"]["next"], headers=AUTH, timeout=5).json()
    assert rest["meta"]["has_more"] is False and rest["links"]["next"] is None
    assert [a["id"] for a in cursor["audits"] + rest["audits"]] == [a["id"] for a in desk.audits[ticket["id"]]]
    newest = call(desk, "GET", path, params={"sort_order": "desc", "per_page": 1}).json()["audits"][0]
    assert newest["id"] == desk.audits[ticket["id"]][-1]["id"]
    assert call(desk, "GET", "/api/v2/tickets/999/audits.json").status_code == 404


def _events_since(desk: FakeZendesk, start: int, **params: Any) -> dict[str, Any]:
    answer = call(desk, "GET", "/api/v2/incremental/ticket_events.json", params={"start_time": start, **params})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_ticket_event_export_lists_audits_with_child_events(desk: FakeZendesk) -> None:
    desk.export_delay = -60  # hold nothing back: rapid saves are stamped a second apart, ahead of the clock
    start = int(time.time()) - 120
    ticket = _ticket_with_history(desk)
    body = _events_since(desk, start)
    assert (body["count"], body["end_of_stream"]) == (4, True)
    assert body["end_time"] == body["ticket_events"][-1]["timestamp"]
    assert body["next_page"] == f"{desk.base_url}/api/v2/incremental/ticket_events.json?start_time={body['end_time']}"
    created, changed, escalated, _commented = body["ticket_events"]
    assert created["event_type"] == "Audit" and created["ticket_id"] == ticket["id"]
    assert {"subject": "Cannot log in", "event_type": "Create"}.items() <= created["child_events"][0].items()
    assert {"priority": "high", "previous_value": "normal", "event_type": "Change"}.items() <= changed["child_events"][
        0
    ].items()
    assert escalated["via"] == "Web service" and changed["via"] == "Web form"
    comment = escalated["child_events"][-1]
    assert comment == {**comment, "comment_present": True, "comment_public": False, "event_type": "Comment"}
    assert "body" not in comment, "comments only with include=comment_events"
    full = _events_since(desk, start, include="comment_events")["ticket_events"][2]["child_events"][-1]
    assert (full["type"], full["body"], full["public"], full["author_id"]) == (
        "Comment",
        "Escalated.",
        False,
        OWN_USER_ID,
    )
    assert full["audit_id"] == escalated["id"]


def test_the_ticket_event_export_pages_by_time_and_holds_back_the_last_minute(desk: FakeZendesk) -> None:
    requester = desk.add_user("Jane", "jane@x.example")
    old = datetime.now(UTC) - timedelta(minutes=10)
    for n in range(3):
        desk.create_ticket(f"T{n}", "d", requester, at=old + timedelta(seconds=n))
    desk.create_ticket("recent", "d", requester)
    start = int(old.timestamp()) - 1
    first = _events_since(desk, start, per_page=2)
    assert (first["count"], first["end_of_stream"]) == (2, False)
    rest = requests.get(first["next_page"], headers=AUTH, timeout=5).json()
    assert [e["ticket_id"] for e in rest["ticket_events"]] == [2, 3], "resumes at end_time: its second comes again"
    assert rest["end_of_stream"] is True, "the ticket created this minute is held back"
    too_recent = call(desk, "GET", "/api/v2/incremental/ticket_events", params={"start_time": int(time.time())})
    assert too_recent.status_code == 400 and "Too recent" in too_recent.json()["description"]
    assert call(desk, "GET", "/api/v2/incremental/ticket_events").status_code == 400


def test_the_ticket_event_export_spends_the_export_budget(desk: FakeZendesk) -> None:
    clock = [0.0]
    desk.enforce_export_limit(2, period=60.0, clock=lambda: clock[0])
    start = int(time.time()) - 120
    assert [call(desk, "GET", "/api/v2/incremental/ticket_events.json", params={"start_time": start}).status_code
            for _ in range(3)] == [200, 200, 429]  # fmt: skip
    refused = call(desk, "GET", "/api/v2/incremental/tickets/cursor.json", params={"start_time": start})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30", "one budget for both exports"
    clock[0] = 30.0
    assert _events_since(desk, start)["count"] == 0


def test_users_carry_their_locale_and_time_zone(desk: FakeZendesk) -> None:
    user_id = desk.add_user("Kenji", "kenji@x.example", locale="ja", time_zone="Asia/Tokyo")
    user = call(desk, "GET", f"/api/v2/users/{user_id}.json").json()["user"]
    assert (user["locale"], user["time_zone"], user["iana_time_zone"]) == ("ja", "Tokyo", "Asia/Tokyo")
    default = desk.users[desk.add_user("Ann", "ann@x.example")]
    assert (default["locale"], default["time_zone"], default["iana_time_zone"]) == (
        "en-US",
        "Eastern Time (US & Canada)",
        "America/New_York",
    )
    me = call(desk, "GET", "/api/v2/users/me.json").json()["user"]
    assert me["id"] == OWN_USER_ID and me["iana_time_zone"] == "America/New_York"


def test_the_apps_endpoints_serve_the_configured_key_and_installations(desk: FakeZendesk) -> None:
    assert call(desk, "GET", "/api/v2/apps/123/public_key.pem").status_code == 404, "no key configured"
    assert call(desk, "GET", "/api/v2/apps/installations.json").json() == {"installations": []}
    pem = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n"
    desk.app_public_key = pem
    installation = desk.add_installation(123, settings={"escalator_url": "https://esc.example"})
    key = call(desk, "GET", "/api/v2/apps/123/public_key.pem")
    assert key.status_code == 200 and key.text == pem
    (listed,) = call(desk, "GET", "/api/v2/apps/installations.json").json()["installations"]
    assert (listed["id"], listed["app_id"], listed["enabled"]) == (installation, 123, True)
    assert listed["settings"]["escalator_url"] == "https://esc.example"
    assert listed["settings_objects"] == [{"name": "escalator_url", "value": "https://esc.example"}]
