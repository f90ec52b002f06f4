"""End to end on real Redis: signed webhook -> receiver -> RQ worker -> rules -> Zendesk API (fake server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from escalator.plugin import keys
from escalator.plugin.jobs import quiet
from tests.support import Pipeline, signed_headers


def outage_ticket(pipe: Pipeline) -> int:
    jane = pipe.desk.add_user("Jane Doe", "jane@globex.example")
    return int(pipe.desk.create_ticket("Outage: cannot log in", "Nobody on our team can sign in.", jane)["id"])


def test_outage_ticket_is_escalated_with_two_puts(pipe: Pipeline) -> None:
    ticket_id = outage_ticket(pipe)
    assert pipe.deliver_pending() == [202]
    pipe.work()

    writes = pipe.writes(ticket_id)
    assert len(writes) == 2, "fields + first comment, then the second comment (one comment per update)"
    first, second = writes
    assert first["group_id"] == 102 and pipe.desk.groups[102] == "Tier 2"
    assert first["priority"] == "urgent"
    assert first["comment"]["public"] is True and "Hi Jane" in first["comment"]["body"]
    assert first["safe_update"] is True and first["updated_stamp"]
    assert second["comment"]["public"] is False and "outage-or-login" in second["comment"]["body"]
    assert set(second) == {"ticket_id", "comment", "safe_update", "updated_stamp"}
    ticket = pipe.desk.tickets[ticket_id]
    assert (ticket["group_id"], ticket["priority"]) == (102, "urgent")
    assert quiet(pipe.runtime, "acme")


def test_duplicate_delivery_and_echoes_cause_no_further_writes(pipe: Pipeline) -> None:
    ticket_id = outage_ticket(pipe)
    created = pipe.desk.pending_webhooks()[0]
    pipe.deliver_pending()
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 2

    # The plugin's own updates come back as webhooks (group, priority, two comments): none fires a rule.
    echoes = pipe.desk.pending_webhooks()
    assert {payload["type"].split(".")[-1] for payload in echoes} >= {"group_assignment_changed", "comment_added"}
    assert all(payload["detail"]["actor_id"] == "900" for payload in echoes)
    assert set(pipe.deliver_pending()) == {202}
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 2

    again = pipe.post(created)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 2


def test_bad_signature_is_refused_and_nothing_is_queued(pipe: Pipeline) -> None:
    ticket_id = outage_ticket(pipe)
    payload = pipe.desk.pending_webhooks()[0]
    body = json.dumps(payload).encode()
    forged = signed_headers(body, secret="not-the-secret")
    assert pipe.post(body, headers=forged).status_code == 401
    stale = signed_headers(body, timestamp=(datetime.now(UTC) - timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert pipe.post(body, headers=stale).status_code == 401
    assert pipe.post(body, headers={"Content-Type": "application/json"}).status_code == 401
    assert pipe.redis.zcard(keys.ready("acme")) == 0 and pipe.runtime.jobs.count == 0
    pipe.work()
    assert pipe.writes(ticket_id) == []


def test_how_to_ticket_gets_no_write_at_all(pipe: Pipeline) -> None:
    bob = pipe.desk.add_user("Bob Stone", "bob@globex.example")
    ticket_id = int(pipe.desk.create_ticket("How do I export a CSV report?", "Where is the button?", bob)["id"])
    pipe.settle()
    assert pipe.writes(ticket_id) == []
    state = json.loads(pipe.redis.get(keys.state("acme", str(ticket_id))) or "{}")
    assert state["tier"] == "L1" and state["escalations"] == []
    ticket_reads = [path for method, path in pipe.desk.requests if method == "GET" and "/tickets/" in path]
    assert ticket_reads == [], "decided from the event's own snapshot: no read-back call"


def test_events_older_than_what_was_seen_are_decided_on_a_fresh_read(pipe: Pipeline) -> None:
    bob = pipe.desk.add_user("Bob Stone", "bob@globex.example")
    ticket_id = int(pipe.desk.create_ticket("Export question", "How do I export?", bob)["id"])
    created = pipe.desk.pending_webhooks()[0]
    pipe.desk.customer_comment(ticket_id, "Any news?")
    pipe.desk._outbox.pop(0)
    pipe.deliver_pending()
    pipe.work()
    assert pipe.post(created).status_code == 202  # the creation event arrives late
    pipe.work()
    reads = [path for method, path in pipe.desk.requests if method == "GET" and f"/tickets/{ticket_id}.json" in path]
    assert len(reads) == 1, "a late event's snapshot is stale: the ticket is read back"


def test_http_contract_for_unknown_tenants_and_bad_bodies(pipe: Pipeline) -> None:
    body = b'{"type": "zen:event-type:ticket.created"}'
    assert pipe.post(body, tenant="globex").status_code == 404
    assert pipe.client.post("/webhooks/freshdesk/acme", data=body).status_code == 404
    assert pipe.client.post("/webhooks/nodesk/acme", data=body).status_code == 404
    assert pipe.post(b"not json").status_code == 400
    assert pipe.post({"hello": "world"}).get_json()["error"].endswith("did Zendesk send this?")
    user_event = {"type": "zen:event-type:user.created", "id": "u1", "time": "2026-01-01T00:00:00Z", "detail": {}}
    answer = pipe.post(user_event)
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"
    huge = b"{" + b" " * (300 * 1024) + b"}"
    assert pipe.post(huge).status_code == 413
    assert pipe.redis.zcard(keys.ready("acme")) == 0


def test_health_and_readiness(pipe: Pipeline) -> None:
    assert pipe.client.get("/healthz").status_code == 200
    assert pipe.client.get("/readyz").get_json() == {"status": "ready"}


def test_conflict_rereads_and_redecides_without_repeating_a_reply(pipe: Pipeline) -> None:
    ticket_id = outage_ticket(pipe)
    pipe.deliver_pending()
    # An agent assigns the ticket after Escalator read it but before its second PUT lands: the second PUT's
    # stamp is stale -> 409 -> Escalator reads the ticket again and sends only what is still missing.
    puts = []

    def agent_races(line: str) -> None:
        if line.startswith("PUT "):
            puts.append(line)
            if len(puts) == 2:
                pipe.desk.agent_update(ticket_id, assignee_id=901)

    pipe.desk.hooks.append(agent_races)
    pipe.work()
    writes = pipe.writes(ticket_id)
    bodies = [write["comment"]["public"] for write in writes if "comment" in write]
    assert bodies == [True, False], "the reply went out once, the note once, after the 409"
    assert len(puts) == 3, "fields+reply, a refused note (409), the note again after re-reading"
    reads = [path for method, path in pipe.desk.requests if method == "GET" and f"/tickets/{ticket_id}.json" in path]
    assert len(reads) == 1, "decided from the webhook's snapshot; read back only after the 409"
    assert pipe.desk.tickets[ticket_id]["assignee_id"] == 901, "the agent's change survives"
    assert quiet(pipe.runtime, "acme")


def test_vendor_outage_is_retried_later_and_never_duplicates_a_reply(pipe: Pipeline) -> None:
    ticket_id = outage_ticket(pipe)
    pipe.deliver_pending()
    # The first PUT (carrying the customer reply) times out from our side but lands at Zendesk.
    pipe.desk.fail(r"^PUT /api/v2/tickets/\d+\.json$", 502, times=1)
    pipe.work()
    assert pipe.writes(ticket_id) == []
    backlog = pipe.runtime.queue.backlog("acme")
    assert backlog == {"ready": 1, "processing": 0, "dead": 0}, "kept for a retry, not lost"
    # Make the retry due now and run it.
    pipe.redis.zadd(keys.ready("acme"), {str(ticket_id): 0})
    pipe.runtime.wake("acme")
    pipe.work()
    public = [w for w in pipe.writes(ticket_id) if w.get("comment", {}).get("public")]
    assert len(public) == 1 and len(pipe.writes(ticket_id)) == 2


def test_reply_that_landed_without_an_answer_is_not_sent_again(pipe: Pipeline) -> None:
    ticket_id = outage_ticket(pipe)
    pipe.deliver_pending()
    original_update = pipe.desk._update
    calls = {"n": 0}

    def lands_then_fails(ticket: int, changes: dict[str, object], actor: int) -> dict[str, object]:
        result = original_update(ticket, changes, actor)
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("connection dropped after the write")  # the fake answers 500
        return result

    pipe.desk._update = lands_then_fails  # type: ignore[method-assign]
    pipe.work()
    pipe.redis.zadd(keys.ready("acme"), {str(ticket_id): 0})
    pipe.runtime.wake("acme")
    pipe.work()
    comments = [c for c in pipe.desk.comments[ticket_id] if c["author_id"] == 900]
    assert [c["public"] for c in comments] == [True, False], "one reply, one note: the landed reply was found"


def test_keyword_in_customer_follow_up_escalates_once(pipe: Pipeline) -> None:
    bob = pipe.desk.add_user("Bob Stone", "bob@globex.example")
    ticket_id = int(pipe.desk.create_ticket("Export question", "How do I export?", bob)["id"])
    pipe.settle()
    pipe.desk.customer_comment(ticket_id, "Now it is an outage for everyone!")
    pipe.settle()
    pipe.desk.customer_comment(ticket_id, "Still an outage, any news?")
    pipe.settle()
    replies = [w for w in pipe.writes(ticket_id) if w.get("comment", {}).get("public")]
    assert len(replies) == 1 and pipe.desk.tickets[ticket_id]["group_id"] == 102
    journal = [json.loads(raw) for raw in pipe.redis.lrange(keys.journal("acme", str(ticket_id)), 0, -1)]
    assert any("held back, already in L2" in reason for entry in journal for reason in entry["reasons"])


def test_unknown_group_is_retried_and_finally_kept_in_dead_letters(pipe: Pipeline) -> None:
    del pipe.desk.groups[102]  # the admin never created "Tier 2"
    ticket_id = outage_ticket(pipe)
    pipe.deliver_pending()
    for _ in range(12):
        pipe.redis.zadd(keys.ready("acme"), {str(ticket_id): 0}, xx=True)
        pipe.runtime.wake("acme")
        pipe.work()
    assert pipe.writes(ticket_id) == []
    dead = [json.loads(raw) for raw in pipe.redis.lrange(keys.dead_letters("acme"), 0, -1)]
    assert len(dead) == 1 and "no group named 'Tier 2'" in dead[0]["error"]
    assert dead[0]["event"]["ticket_id"] == str(ticket_id)


def test_events_of_one_ticket_are_applied_in_order_in_one_batch(pipe: Pipeline) -> None:
    bob = pipe.desk.add_user("Bob Stone", "bob@globex.example")
    ticket_id = int(pipe.desk.create_ticket("Export question", "How do I export?", bob)["id"])
    pipe.desk.customer_comment(ticket_id, "It became an outage")
    pipe.desk.customer_comment(ticket_id, "And a billing error too")
    payloads = pipe.desk.pending_webhooks()
    for payload in reversed(payloads):  # delivered out of order
        assert pipe.post(payload).status_code == 202
    pipe.desk._outbox.clear()
    pipe.work()
    state = json.loads(pipe.redis.get(keys.state("acme", str(ticket_id))) or "{}")
    assert [e["target"] for e in state["escalations"]] == ["L2", "finance"]
    assert state["last_event_at"] == max(p["time"] for p in payloads)
