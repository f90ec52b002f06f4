"""The fake Freshdesk's newer endpoints, driven over HTTP as a client would: ticket creation and trackers,
bulk updates with their jobs, notes that notify agents, contacts' language and time zone, and the automation
rules API, whose stored rules decide where the fake sends its webhooks."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from escalator.fakedesk.freshdesk import HUMAN_AGENT_ID, OWN_AGENT_ID, FakeFreshdesk

KEY = "fd-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:X".encode()).decode()}
RULE_URL = "https://hooks.example/freshdesk"


@pytest.fixture
def desk() -> Iterator[FakeFreshdesk]:
    fake = FakeFreshdesk(api_key=KEY, webhook_url="http://unused.invalid/", webhook_secret="s3")
    fake.start()
    yield fake
    fake.stop()


def call(desk: FakeFreshdesk, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{desk.base_url}{path}", headers=AUTH, timeout=5, **kwargs)


def events(desk: FakeFreshdesk) -> list[tuple[str, str]]:
    """(ticket id, triggered event) of each queued webhook of the built-in rule."""
    return [
        (p["freshdesk_webhook"]["ticket_id"], p["freshdesk_webhook"]["triggered_event"])
        for p in desk.pending_webhooks()
    ]


def test_creating_a_ticket_answers_201_and_fires_the_creation_rule(desk: FakeFreshdesk) -> None:
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example")
    body = {
        "subject": "Outage",
        "description": "<p>All down</p>",
        "requester_id": contact,
        "priority": 4,
        "group_id": 102,
    }
    answer = call(desk, "POST", "/api/v2/tickets", json=body)
    assert answer.status_code == 201
    ticket = answer.json()
    assert (ticket["subject"], ticket["priority"], ticket["status"], ticket["group_id"]) == ("Outage", 4, 2, 102)
    assert (ticket["description"], ticket["description_text"], ticket["association_type"]) == (
        "<p>All down</p>",
        "All down",
        None,
    )
    assert events(desk) == [(str(ticket["id"]), "{ticket_action:created}")]
    assert desk.pending_webhooks()[0]["freshdesk_webhook"]["actor_id"] == str(OWN_AGENT_ID)
    assert desk.writes == [{"ticket_id": ticket["id"], "call": "create", **body}]


def test_a_new_email_becomes_a_contact_and_a_known_one_is_found(desk: FakeFreshdesk) -> None:
    body = {"subject": "Hi", "description": "Hello", "email": "new@x.example", "name": "New Person"}
    first = call(desk, "POST", "/api/v2/tickets", json=body).json()
    contact = desk.contacts[first["requester_id"]]
    assert (contact["name"], contact["email"]) == ("New Person", "new@x.example")
    second = call(desk, "POST", "/api/v2/tickets", json=body).json()
    assert second["requester_id"] == first["requester_id"] and len(desk.contacts) == 1


def test_a_tracker_links_the_tickets_it_tracks_both_ways(desk: FakeFreshdesk) -> None:
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example")
    tracked = [desk.create_ticket(f"Cannot log in {n}", "Help", contact)["id"] for n in range(2)]
    before = desk.tickets[tracked[0]]["updated_at"]
    body = {
        "subject": "Login outage",
        "description": "Tracking",
        "email": "alex@acme.example",
        "related_ticket_ids": tracked,
    }
    tracker = call(desk, "POST", "/api/v2/tickets", json=body).json()
    assert tracker["requester_id"] == HUMAN_AGENT_ID, "an agent's email names the agent"
    assert (tracker["association_type"], tracker["associated_tickets_list"]) == (3, tracked)
    for ticket_id in tracked:
        shown = call(desk, "GET", f"/api/v2/tickets/{ticket_id}").json()
        assert (shown["association_type"], shown["associated_tickets_list"]) == (4, [tracker["id"]])
    assert desk.tickets[tracked[0]]["updated_at"] > before, "linking is a change of the tracked tickets"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"subject": "s", "description": "d"}, {"requester_id"}),
        ({"description": "d", "email": "a@x.example"}, {"subject"}),
        ({"subject": "s", "description": "d", "requester_id": 4242}, {"requester_id"}),
        (
            {"subject": "s", "description": "d", "email": "a@x.example", "related_ticket_ids": [99]},
            {"related_ticket_ids"},
        ),
        (
            {"subject": "s", "description": "d", "email": "a@x.example", "colour": "red", "priority": 9},
            {"colour", "priority"},
        ),
    ],
)
def test_an_invalid_ticket_gets_freshdesks_validation_errors(
    desk: FakeFreshdesk, body: dict[str, Any], fields: set[str]
) -> None:
    answer = call(desk, "POST", "/api/v2/tickets", json=body)
    assert answer.status_code == 400 and answer.json()["description"] == "Validation failed"
    assert {error["field"] for error in answer.json()["errors"]} == fields
    assert desk.tickets == {} and desk.writes == []


def test_bulk_update_is_one_ticket_update_call_applied_per_ticket(desk: FakeFreshdesk) -> None:
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example")
    ids = [desk.create_ticket(f"T{n}", "d", contact)["id"] for n in range(3)]
    desk.clear_webhooks()
    desk.enforce_rate_limits(requests_per_period=50, ticket_updates_per_period=10, clock=lambda: 0.0)
    body = {"bulk_action": {"ids": ids, "properties": {"priority": 4, "group_id": 103}, "reply": {"body": "On it"}}}
    answer = call(desk, "POST", "/api/v2/tickets/bulk_update", json=body)
    assert answer.status_code == 202
    job_id = answer.json()["job_id"]
    assert answer.json()["href"] == f"{desk.base_url}/api/v2/jobs/{job_id}"
    assert desk.buckets["ticket-updates"].remaining() == 9, "one call against the ticket-update budget"
    assert [(desk.tickets[i]["priority"], desk.tickets[i]["group_id"]) for i in ids] == [(4, 103)] * 3
    assert [desk.conversations[i][-1]["body_text"] for i in ids] == ["On it"] * 3
    assert events(desk) == [
        e for i in ids for e in ((str(i), "{priority:{from:1,to:4}}"), (str(i), "{reply_sent:sent}"))
    ]
    assert [(w["ticket_id"], w["call"], w["job_id"], w["priority"]) for w in desk.writes] == [
        (i, "bulk_update", job_id, 4) for i in ids
    ]
    job = call(desk, "GET", f"/api/v2/jobs/{job_id}").json()
    assert (job["id"], job["status"], job["progress"]) == (job_id, "completed", 100)
    assert job["data"] == [{"id": i, "success": True} for i in ids]


def test_a_held_bulk_job_is_queued_and_an_unknown_ticket_fails_alone(desk: FakeFreshdesk) -> None:
    ticket = desk.create_ticket("T", "d", desk.add_contact("Dana Ruiz", "dana@initech.example"))
    desk.hold_jobs = True
    body = {"bulk_action": {"ids": [ticket["id"], 999], "properties": {"status": 3}}}
    job_id = call(desk, "POST", "/api/v2/tickets/bulk_update", json=body).json()["job_id"]
    queued = call(desk, "GET", f"/api/v2/jobs/{job_id}").json()
    assert (queued["status"], queued["data"], ticket["status"]) == ("queued", [], 2)
    desk.run_jobs()
    done = call(desk, "GET", f"/api/v2/jobs/{job_id}").json()
    assert done["status"] == "completed" and ticket["status"] == 3
    assert [(item["id"], item["success"]) for item in done["data"]] == [(ticket["id"], True), (999, False)]
    assert call(desk, "GET", "/api/v2/jobs/nope").status_code == 404


def test_an_invalid_bulk_update_is_refused_whole(desk: FakeFreshdesk) -> None:
    ticket = desk.create_ticket("T", "d", desk.add_contact("Dana Ruiz", "dana@initech.example"))
    body = {"bulk_action": {"ids": [ticket["id"]], "properties": {"priority": 9, "colour": "red"}}}
    answer = call(desk, "POST", "/api/v2/tickets/bulk_update", json=body)
    assert answer.status_code == 400
    assert {e["field"] for e in answer.json()["errors"]} == {"properties.priority", "properties.colour"}
    assert call(desk, "POST", "/api/v2/tickets/bulk_update", json={"bulk_action": {"ids": []}}).status_code == 400
    assert desk.jobs == {} and ticket["priority"] == 1


def test_a_note_keeps_the_agents_it_notifies(desk: FakeFreshdesk) -> None:
    ticket = desk.create_ticket("T", "d", desk.add_contact("Dana Ruiz", "dana@initech.example"))
    body = {"body": "Needs L2", "private": True, "notify_emails": ["l2@acme.example"]}
    answer = call(desk, "POST", f"/api/v2/tickets/{ticket['id']}/notes", json=body)
    assert answer.status_code == 201 and answer.json()["notified_to"] == ["l2@acme.example"]
    assert desk.conversations[ticket["id"]][-1]["notified_to"] == ["l2@acme.example"]
    assert desk.writes[-1] == {"ticket_id": ticket["id"], "call": "note", **body}
    refused = call(desk, "POST", f"/api/v2/tickets/{ticket['id']}/notes", json={"body": "x", "notify_emails": "a@b"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "notify_emails"


def test_contacts_carry_their_language_and_time_zone(desk: FakeFreshdesk) -> None:
    contact = desk.add_contact("Kenji", "kenji@x.example", language="ja-JP", time_zone="Osaka")
    shown = call(desk, "GET", f"/api/v2/contacts/{contact}").json()
    assert (shown["language"], shown["time_zone"]) == ("ja-JP", "Osaka")
    default = desk.contacts[desk.add_contact("Ann", "ann@x.example")]
    assert (default["language"], default["time_zone"]) == ("en", "Eastern Time (US & Canada)")


def update_rule(**overrides: Any) -> dict[str, Any]:
    rule = {
        "name": "Escalator: ticket updates",
        "active": True,
        "performer": {"type": 1},
        "events": [{"field_name": "status", "from": "--", "to": "--"}, {"field_name": "reply_sent"}],
        "conditions": [],
        "actions": [
            {
                "field_name": "trigger_webhook",
                "request_type": "POST",
                "url": RULE_URL,
                "content_type": "JSON",
                "content_layout": "2",
                "content": {
                    "freshdesk_webhook": {"ticket_id": "{{ticket.id}}", "triggered_event": "{{triggered_event}}"}
                },
                "auth_header": {"username": "freshdesk", "password": "s3cret"},
                "custom_headers": {"X-Escalator-Tenant": "acme"},
            }
        ],
    }
    return {**rule, **overrides}


def test_rules_are_stored_listed_changed_and_deleted(desk: FakeFreshdesk) -> None:
    created = call(desk, "POST", "/api/v2/automations/4/rules", json=update_rule())
    assert created.status_code == 201
    rule = created.json()
    assert (rule["name"], rule["position"], rule["last_updated_by"]) == ("Escalator: ticket updates", 1, OWN_AGENT_ID)
    assert rule["actions"] == update_rule()["actions"], "stored as given"
    assert call(desk, "GET", "/api/v2/automations/4/rules").json() == [rule]
    assert call(desk, "GET", "/api/v2/automations/1/rules").json() == [], "rules are per automation type"
    changed = call(desk, "PUT", f"/api/v2/automations/4/rules/{rule['id']}", json={"active": False})
    assert changed.status_code == 200 and changed.json()["active"] is False and changed.json()["name"] == rule["name"]
    assert call(desk, "GET", f"/api/v2/automations/4/rules/{rule['id']}").json()["active"] is False
    assert call(desk, "DELETE", f"/api/v2/automations/4/rules/{rule['id']}").status_code == 204
    assert call(desk, "GET", f"/api/v2/automations/4/rules/{rule['id']}").status_code == 404
    assert call(desk, "GET", "/api/v2/automations/2/rules").status_code == 404, "no automation type 2"


def _bad_action(**changes: Any) -> dict[str, Any]:
    rule = update_rule()
    rule["actions"] = [{**rule["actions"][0], **changes}]
    return rule


@pytest.mark.parametrize(
    ("kind", "rule", "fields"),
    [
        (4, {"name": "x"}, {"active", "performer", "events", "actions"}),
        (4, update_rule(name=" ", events=[]), {"name", "events"}),
        (1, update_rule(), {"performer", "events"}),
        (4, _bad_action(url="ftp://x", request_type="FETCH"), {"actions[0].url", "actions[0].request_type"}),
        (
            4,
            _bad_action(content_type="YAML", auth_header={"username": "u"}),
            {"actions[0].content_type", "actions[0].auth_header"},
        ),
        (4, _bad_action(content="not an object"), {"actions[0].content"}),
        (
            4,
            update_rule(conditions=[{"match_type": "some", "properties": []}], colour="red"),
            {"conditions[0]", "colour"},
        ),
    ],
)
def test_a_bad_rule_gets_freshdesks_validation_errors(
    desk: FakeFreshdesk, kind: int, rule: dict[str, Any], fields: set[str]
) -> None:
    answer = call(desk, "POST", f"/api/v2/automations/{kind}/rules", json=rule)
    assert answer.status_code == 400 and answer.json()["description"] == "Validation failed"
    assert {error["field"] for error in answer.json()["errors"]} == fields
    assert desk.automations[kind] == {}


class Captured:
    """The HTTP boundary: what the fake would have sent, per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Any:
        self.calls.append((url, data, headers))
        return type("Answer", (), {"status_code": 200})()


def test_stored_rules_decide_where_webhooks_go(desk: FakeFreshdesk) -> None:
    call(desk, "POST", "/api/v2/automations/4/rules", json=update_rule())
    ticket = desk.create_ticket("T", "d", desk.add_contact("Dana Ruiz", "dana@initech.example"))
    assert events(desk) == [(str(ticket["id"]), "{ticket_action:created}")], "no creation rule: the built-in one"
    desk.clear_webhooks()
    desk.agent_update(ticket["id"], priority=3)
    desk.agent_note(ticket["id"], "internal")
    assert desk.pending_webhooks() == [], "the rule watches neither priority nor notes"
    desk.agent_update(ticket["id"], priority=4, status=3)
    captured = Captured()
    assert desk.flush_webhooks(post=captured) == [200]
    ((url, data, headers),) = captured.calls
    assert url == RULE_URL and headers["X-Escalator-Tenant"] == "acme"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"freshdesk:s3cret").decode()
    assert json.loads(data) == {
        "freshdesk_webhook": {"ticket_id": str(ticket["id"]), "triggered_event": "{status:{from:2,to:3}}"}
    }


def test_a_rules_performer_and_activity_decide_whether_it_fires(desk: FakeFreshdesk) -> None:
    customers_only = call(desk, "POST", "/api/v2/automations/4/rules", json=update_rule(performer={"type": 2})).json()
    ticket = desk.create_ticket("T", "d", desk.add_contact("Dana Ruiz", "dana@initech.example"))
    desk.clear_webhooks()
    desk.agent_reply(ticket["id"], "Hello")
    assert desk.pending_webhooks() == [], "an agent's reply is not the requester's"
    desk.customer_reply(ticket["id"], "Thanks")
    assert [p["freshdesk_webhook"]["triggered_event"] for p in desk.pending_webhooks()] == ["{reply_sent:sent}"]
    call(desk, "PUT", f"/api/v2/automations/4/rules/{customers_only['id']}", json={"active": False})
    desk.clear_webhooks()
    desk.customer_reply(ticket["id"], "Again")
    assert desk.pending_webhooks() == [], "an inactive rule still governs, and sends nothing"
    call(desk, "DELETE", f"/api/v2/automations/4/rules/{customers_only['id']}")
    desk.customer_reply(ticket["id"], "And again")
    assert events(desk) == [(str(ticket["id"]), "{reply_sent:sent}")], "no rules left: the built-in one again"


def test_only_the_first_creation_rule_runs_and_simple_layouts_send_the_listed_fields(desk: FakeFreshdesk) -> None:
    simple = copy.deepcopy(update_rule()["actions"][0])
    simple.update(content_layout="1", content=["ticket.id", "ticket.status"], url="https://first.example/")
    rule = {"name": "first", "active": True, "actions": [simple]}
    assert call(desk, "POST", "/api/v2/automations/1/rules", json=rule).status_code == 201
    second = {**rule, "name": "second", "actions": [{**simple, "url": "https://second.example/"}]}
    assert call(desk, "POST", "/api/v2/automations/1/rules", json=second).status_code == 201
    ticket = call(
        desk, "POST", "/api/v2/tickets", json={"subject": "s", "description": "d", "email": "a@x.example"}
    ).json()
    captured = Captured()
    desk.flush_webhooks(post=captured)
    assert [(url, json.loads(data)) for url, data, _headers in captured.calls] == [
        ("https://first.example/", {"freshdesk_webhook": {"ticket_id": str(ticket["id"]), "ticket_status": "Open"}})
    ]
