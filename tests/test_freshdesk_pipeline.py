"""End to end on real Redis: Freshdesk automation-rule webhook -> receiver -> RQ worker -> rules -> Freshdesk
API (the fake Freshdesk server), including the echoes Freshdesk sends for Escalator's own writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from escalator.fakedesk.freshdesk import HUMAN_AGENT_ID, OWN_AGENT_ID, FakeFreshdesk
from escalator.plugin import keys
from escalator.plugin.jobs import quiet
from tests.support import V1_POLICY
from tests.support_freshdesk import SECRET, TENANT, FreshdeskPipeline, freshdesk_pipeline


@pytest.fixture
def pipe(redis_url: str, fake_freshdesk: FakeFreshdesk) -> Iterator[FreshdeskPipeline]:
    yield from freshdesk_pipeline(redis_url, fake_freshdesk)


def new_ticket(pipe: FreshdeskPipeline, subject: str, description: str, **options: Any) -> int:
    jane = pipe.desk.add_contact("Jane Doe", "jane@globex.example")
    return int(pipe.desk.create_ticket(subject, description, jane, **options)["id"])


def group_of(pipe: FreshdeskPipeline, ticket_id: int) -> str:
    return pipe.desk.groups[pipe.desk.tickets[ticket_id]["group_id"]]


def nothing_queued(pipe: FreshdeskPipeline) -> bool:
    return pipe.redis.zcard(keys.ready(TENANT)) == 0 and pipe.runtime.jobs.count == 0


def test_billing_error_lands_in_finance_with_the_internal_note(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Invoice question", "There is a billing error on our March invoice.", priority=2)
    assert pipe.deliver_pending() == [202]
    pipe.work()

    assert group_of(pipe, ticket_id) == "Finance"
    update, reply, note = pipe.writes(ticket_id)
    assert (update["call"], reply["call"], note["call"]) == ("update", "reply", "note")
    assert set(update) == {"ticket_id", "call", "group_id"}, "priority untouched, nothing else sent"
    assert note["private"] is True and "billing-error" in note["body"] and "billing error" in note["body"]
    notes = [c for c in pipe.ours(ticket_id) if c["private"]]
    assert len(notes) == 1 and "Rule: billing-error" in notes[0]["body_text"]
    assert pipe.desk.tickets[ticket_id]["priority"] == 2
    assert quiet(pipe.runtime, TENANT)


def test_outage_is_one_put_one_reply_one_note_and_its_echoes_change_nothing(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody on our team can sign in.")
    pipe.deliver_pending()
    pipe.work()
    update, reply, note = pipe.writes(ticket_id)
    assert update == {"ticket_id": ticket_id, "call": "update", "group_id": 102, "priority": 4}
    assert reply["call"] == "reply" and "Hi Jane" in reply["body"] and "Technical Specialists" in reply["body"]
    assert note["call"] == "note" and note["private"] is True
    created = pipe.state(ticket_id)["anchors"]["created"]

    # Freshdesk fires its rules for our own changes: one webhook for the PUT (its first matched event), one
    # for the reply, one for the note. None is a reason to act, and none counts as activity or a touch.
    echoes = pipe.desk.pending_webhooks()
    events = [payload["freshdesk_webhook"]["triggered_event"] for payload in echoes]
    assert events == ["{priority:{from:1,to:4}}", "{reply_sent:sent}", "{note_type:private}"]
    assert all(payload["freshdesk_webhook"]["actor_id"] == str(OWN_AGENT_ID) for payload in echoes)
    assert pipe.deliver_pending() == [202, 202, 202]
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 3
    state = pipe.state(ticket_id)
    assert state["touches"] == 0 and state["anchors"]["updated"] == created
    assert state["tier"] == "L2" and state["priority"] == "urgent"


def test_a_repeated_delivery_is_answered_200_and_nothing_is_done_twice(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    created = pipe.desk.pending_webhooks()[0]
    pipe.deliver_pending()
    pipe.work()
    for _retry in range(3):  # Freshdesk's +5, +30, +60 minute retries of the same body
        again = pipe.post(created)
        assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 3


def test_without_the_secret_the_answer_is_401_and_nothing_is_queued(pipe: FreshdeskPipeline) -> None:
    new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    payload = pipe.desk.pending_webhooks()[0]
    assert pipe.post(payload, headers={"Content-Type": "application/json"}).status_code == 401
    assert pipe.post(payload, headers={"X-Escalator-Secret": SECRET + "!"}).status_code == 401
    assert pipe.post(payload, headers={"Authorization": "Basic ZnJlc2hkZXNrOndyb25n"}).status_code == 401
    assert nothing_queued(pipe)
    pipe.work()
    assert pipe.desk.writes == []


def test_basic_auth_with_the_secret_as_password_is_accepted(pipe: FreshdeskPipeline) -> None:
    pipe.desk.webhook_auth = "basic"
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    assert pipe.deliver_pending() == [202]
    pipe.work()
    assert group_of(pipe, ticket_id) == "Tier 2"


def test_the_http_contract_for_freshdesk(pipe: FreshdeskPipeline) -> None:
    headers = pipe.desk.webhook_headers()
    assert pipe.post(b"not json").status_code == 400
    answer = pipe.post({"ticket": {"id": 1}})
    assert answer.status_code == 400 and answer.get_json()["error"].endswith("did Freshdesk send this?")
    ignored = pipe.post({"freshdesk_webhook": {"ticket_id": "5", "triggered_event": "{time_sheet_action:added}"}})
    assert ignored.status_code == 200 and ignored.get_json()["status"] == "ignored"
    assert pipe.post({"freshdesk_webhook": {"ticket_id": "5"}}, tenant="initech").status_code == 404
    assert pipe.client.post(f"/webhooks/zendesk/{TENANT}", data=b"{}", headers=headers).status_code == 404
    assert pipe.post(b"{" + b" " * (300 * 1024) + b"}").status_code == 413
    assert nothing_queued(pipe)


def test_a_how_to_ticket_gets_no_write_at_all(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "How do I export a CSV report?", "Where is the button?")
    pipe.settle()
    assert pipe.writes(ticket_id) == []
    state = pipe.state(ticket_id)
    assert state["tier"] == "L1" and state["status"] == "open" and state["escalations"] == []


def test_a_keyword_in_a_customer_reply_escalates_once(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Export question", "How do I export?")
    pipe.settle()
    pipe.desk.customer_reply(ticket_id, "Now it is an outage for everyone!")
    pipe.settle()
    pipe.desk.customer_reply(ticket_id, "Still an outage, any news?")
    pipe.settle()
    replies = [write for write in pipe.writes(ticket_id) if write["call"] == "reply"]
    assert len(replies) == 1 and group_of(pipe, ticket_id) == "Tier 2"
    journal = [json.loads(raw) for raw in pipe.redis.lrange(keys.journal(TENANT, str(ticket_id)), 0, -1)]
    assert any("held back, already in L2" in reason for entry in journal for reason in entry["reasons"])
    assert pipe.state(ticket_id)["touches"] == 0


def test_an_agents_public_reply_is_a_touch_ours_are_not(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    pipe.settle()
    pipe.desk.agent_reply(ticket_id, "Looking into it now.")
    pipe.settle()
    assert pipe.state(ticket_id)["touches"] == 1
    assert len(pipe.writes(ticket_id)) == 3


def test_solving_an_escalated_ticket_sends_the_resolution_summary(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    pipe.settle()
    pipe.desk.agent_update(ticket_id, status=4)
    assert [p["freshdesk_webhook"]["triggered_event"] for p in pipe.desk.pending_webhooks()] == [
        "{status:{from:2,to:4}}"
    ]
    pipe.settle()
    replies = [c for c in pipe.ours(ticket_id) if not c["private"]]
    assert len(replies) == 2 and replies[-1]["body_text"].startswith("Good news!")
    assert pipe.state(ticket_id)["status"] == "solved"


@pytest.mark.parametrize(("status", "meaning"), [(6, "pending"), (7, "on_hold"), (3, "pending")])
def test_custom_statuses_are_read_through_the_tenants_mapping(
    pipe: FreshdeskPipeline, status: int, meaning: str
) -> None:
    ticket_id = new_ticket(pipe, "Export question", "How do I export?")
    pipe.settle()
    pipe.desk.agent_update(ticket_id, status=status)
    pipe.settle()
    assert pipe.state(ticket_id)["status"] == meaning, "what SLA clocks pause on (pause_on: pending, on_hold)"


def test_an_agent_who_changes_the_ticket_mid_decision_wins_and_the_reply_goes_once(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    pipe.deliver_pending()
    reads: list[str] = []

    def agent_races(line: str) -> None:
        if line == f"GET /api/v2/tickets/{ticket_id}":
            reads.append(line)
            if len(reads) == 2:  # the check right before our PUT: the agent got there first
                pipe.desk.agent_update(ticket_id, responder_id=HUMAN_AGENT_ID, priority=3)

    pipe.desk.hooks.append(agent_races)
    pipe.work()
    update, reply, note = pipe.writes(ticket_id)
    assert len(reads) >= 4, "read, conflict check (changed), read again, check again"
    assert update == {"ticket_id": ticket_id, "call": "update", "group_id": 102, "priority": 4}
    assert (reply["call"], note["call"]) == ("reply", "note")
    assert pipe.desk.tickets[ticket_id]["responder_id"] == HUMAN_AGENT_ID, "the agent's change survives"
    assert quiet(pipe.runtime, TENANT)


def test_a_reply_refused_by_an_outage_is_sent_once_when_freshdesk_is_back(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    pipe.deliver_pending()
    pipe.desk.fail(r"^POST /api/v2/tickets/\d+/reply$", 502, times=1)
    pipe.work()
    assert [write["call"] for write in pipe.writes(ticket_id)] == ["update"]
    assert pipe.runtime.queue.backlog(TENANT) == {"ready": 1, "processing": 0, "dead": 0}, "kept for a retry"
    pipe.redis.zadd(keys.ready(TENANT), {str(ticket_id): 0})
    pipe.runtime.wake(TENANT)
    pipe.work()
    assert [write["call"] for write in pipe.writes(ticket_id)] == ["update", "reply", "note"]


def test_a_reply_that_landed_without_an_answer_is_not_sent_again(pipe: FreshdeskPipeline) -> None:
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    pipe.deliver_pending()
    original = pipe.desk._converse
    landed: list[int] = []

    def lands_then_fails(*args: Any, **kwargs: Any) -> dict[str, Any]:
        stored = original(*args, **kwargs)
        if kwargs.get("user_id") == OWN_AGENT_ID and not landed:
            landed.append(stored["id"])
            raise RuntimeError("connection dropped after the write")  # the fake answers 500
        return stored

    pipe.desk._converse = lands_then_fails  # type: ignore[method-assign]
    pipe.work()
    pipe.redis.zadd(keys.ready(TENANT), {str(ticket_id): 0})
    pipe.runtime.wake(TENANT)
    pipe.work()
    ours = pipe.ours(ticket_id)
    assert [c["private"] for c in ours] == [False, True], "one reply, one note: the landed reply was found"
    assert ours[0]["id"] == landed[0]


def test_the_minimal_body_still_works_and_still_recognises_our_own_notes(pipe: FreshdeskPipeline) -> None:
    pipe.desk.body_template = {
        "freshdesk_webhook": {"ticket_id": "{{ticket.id}}", "triggered_event": "{{triggered_event}}"}
    }
    ticket_id = new_ticket(pipe, "Outage: cannot log in", "Nobody can sign in.")
    created = pipe.desk.pending_webhooks()[0]
    pipe.deliver_pending()
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 3
    # No actor in the body: the reply and note echoes are recognised by their author, read back from the API.
    assert pipe.deliver_pending() == [202, 202, 202]
    pipe.work()
    assert pipe.state(ticket_id)["touches"] == 0 and len(pipe.writes(ticket_id)) == 3
    # Without `updated_at` a retry cannot be told from a new event: it is queued again (202), and the rules'
    # own idempotence keeps it from writing anything twice.
    assert pipe.post(created).status_code == 202
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 3


def test_company_fields_are_there_for_conditions(redis_url: str, fake_freshdesk: FakeFreshdesk, tmp_path: Path) -> None:
    policy = json.loads(V1_POLICY.read_text())
    policy["triggers"].insert(
        0,
        {
            "id": "enterprise-tier",
            "on": ["ticket.created"],
            "if": {"field": "organization.fields.account_tier", "operator": "is", "value": "Enterprise"},
            "then": [{"action": "escalate", "to": "L2"}, {"action": "add_tags", "tags": ["enterprise"]}],
        },
    )
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(policy))
    wiring = freshdesk_pipeline(redis_url, fake_freshdesk, rules)
    pipe = next(wiring)
    try:
        initech = fake_freshdesk.add_company("Initech", account_tier="Enterprise", health_score="At risk")
        dana = fake_freshdesk.add_contact("Dana Ruiz", "dana@initech.example", company_id=initech)
        ticket_id = int(
            fake_freshdesk.create_ticket("Export question", "How do I export?", dana, tags=["export"])["id"]
        )
        pipe.settle()
        assert group_of(pipe, ticket_id) == "Tier 2"
        assert fake_freshdesk.tickets[ticket_id]["tags"] == ["export", "enterprise"], (
            "the merged list: PUT replaces tags"
        )
        assert [write["call"] for write in pipe.writes(ticket_id)] == ["update"]
    finally:
        wiring.close()
