"""SLA warnings and breaches fire at their instants, through real timers, a real worker and real Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.embedded import EmbeddedService
from escalator.rules.model import parse_instant
from tests.support import TENANT, Pipeline, tenant_config, wait_for

POLICY: dict[str, Any] = {
    "version": 1,
    "tiers": [
        {"id": "L1", "name": "Frontline", "group": "Tier 1"},
        {"id": "L2", "name": "Specialists", "group": "Tier 2"},
    ],
    "slas": [
        {"tier": "L1", "priority": "high", "first_response": "4s", "warn_at": [0.5]},
        {"tier": "L2", "priority": "*", "first_response": "1h"},
    ],
    "triggers": [
        {"id": "sla-warning", "on": ["sla.warning"], "then": [{"action": "note", "template": "warning"}]},
        {
            "id": "sla-breach",
            "on": ["sla.breached"],
            "then": [{"action": "escalate", "to": "next"}, {"action": "set_priority", "value": "+1"}],
        },
    ],
    "templates": {"warning": "{{ alert.percent }}% of {{ alert.metric }} used"},
}


@pytest.fixture
def live(redis_url: str, desk: FakeZendesk, tmp_path: Path) -> Iterator[Pipeline]:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(POLICY))
    config = Config(tenants={TENANT: tenant_config(desk.base_url, rules_path=rules)})
    service = EmbeddedService(config, redis.Redis.from_url(redis_url))
    runtime = service.start()
    pipe = Pipeline(desk, runtime, create_app(runtime).test_client(), service.redis)
    desk.hooks.append(lambda line: pipe.writes_at.append(time.time()) if line.startswith("PUT ") else None)
    yield pipe
    service.stop()


def clock(pipe: Pipeline, ticket_id: int) -> dict[str, Any]:
    return dict(pipe.state(ticket_id).get("clocks", {}).get("first_response", {}))


def test_warning_and_breach_fire_at_their_instants_and_breach_escalates(live: Pipeline) -> None:
    requester = live.desk.add_user("Jane Doe", "jane@globex.example")
    ticket_id = int(live.desk.create_ticket("Export broken", "The export fails", requester, priority="high")["id"])
    live.deliver_pending()
    wait_for(lambda: clock(live, ticket_id).get("running_since"))
    started = parse_instant(clock(live, ticket_id)["started_at"])
    assert started is not None
    warn_due, breach_due = started.timestamp() + 2.0, started.timestamp() + 4.0

    wait_for(lambda: len(live.writes(ticket_id)) >= 2)
    note, escalation = live.writes(ticket_id)[:2]
    writes_at = live.writes_at
    assert note["comment"] == {"body": "50% of first response used", "public": False}
    assert warn_due <= writes_at[0] < warn_due + 1.0, "the warning acts at its instant, never before"
    assert escalation["group_id"] == 102 and escalation["priority"] == "urgent"
    assert breach_due <= writes_at[1] < breach_due + 1.0

    def journal_says(text: str) -> bool:
        journal = [json.loads(raw) for raw in live.redis.lrange(keys.journal(TENANT, str(ticket_id)), 0, -1)]
        return any(text in reason for entry in journal for reason in entry["reasons"])

    wait_for(lambda: journal_says("sla-breach: escalate L1 -> L2"))  # journalled just after the write
    # In L2 a new first-response clock runs (1 hour): its timer is armed, the old one is gone.
    state = live.state(ticket_id)
    assert state["clocks"]["first_response"]["unit"] == "L2"
    l2_started = parse_instant(state["clocks"]["first_response"]["started_at"])
    assert l2_started is not None
    armed = live.runtime.timers(TENANT).due_of(state["timers"]["sla:first_response"])
    assert armed == pytest.approx(l2_started.timestamp() + 3600, abs=0.01)


def test_pending_ticket_clock_stands_still_and_resumes_on_reopen(live: Pipeline) -> None:
    requester = live.desk.add_user("Jane Doe", "jane@globex.example")
    ticket_id = int(live.desk.create_ticket("Export broken", "The export fails", requester, priority="high")["id"])
    live.deliver_pending()
    wait_for(lambda: clock(live, ticket_id).get("running_since"))
    live.desk.agent_update(ticket_id, status="pending")
    live.deliver_pending()
    wait_for(lambda: clock(live, ticket_id).get("running_since") is None)
    paused = clock(live, ticket_id)
    assert 0 < paused["elapsed"] < 2.0
    # A waiting ticket's clock stands still: no SLA timer is armed, and an hour on nothing would fire for it.
    assert not any(name.startswith("sla:") for name in live.state(ticket_id).get("timers", {}))
    assert due_within(live, 3600, ticket_id) == []
    assert live.writes(ticket_id) == []
    assert clock(live, ticket_id)["elapsed"] == paused["elapsed"]

    live.desk.agent_update(ticket_id, status="open")
    live.deliver_pending()
    wait_for(lambda: clock(live, ticket_id).get("running_since"))
    resumed = parse_instant(clock(live, ticket_id)["running_since"])
    assert resumed is not None
    warn_due = resumed.timestamp() + (2.0 - paused["elapsed"])
    wait_for(lambda: len(live.writes(ticket_id)) >= 1)
    assert warn_due <= live.writes_at[0] < warn_due + 1.0
    assert live.writes(ticket_id)[0]["comment"]["public"] is False


IDLE_POLICY: dict[str, Any] = {
    "version": 1,
    "tiers": [
        {"id": "L1", "name": "Frontline", "group": "Tier 1"},
        {"id": "L2", "name": "Specialists", "group": "Tier 2"},
        {"id": "L3", "name": "Engineering", "group": "Tier 3"},
    ],
    "triggers": [
        {
            "id": "idle",
            "after": "2s",
            "since": "requester_update",
            "if": {"field": "status", "operator": "in", "value": ["new", "open"]},
            "then": [{"action": "escalate", "to": "next"}],
        },
        {
            "id": "silence",
            "after": "2s",
            "since": "public_reply",
            "if": {"field": "status", "operator": "is", "value": "open"},
            "then": [{"action": "reply", "template": "progress"}],
        },
    ],
    "templates": {"progress": "Still on it"},
}


@pytest.fixture
def idle(redis_url: str, desk: FakeZendesk, tmp_path: Path) -> Iterator[Pipeline]:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(IDLE_POLICY))
    service = EmbeddedService(
        Config(tenants={TENANT: tenant_config(desk.base_url, rules_path=rules)}), redis.Redis.from_url(redis_url)
    )
    runtime = service.start()
    pipe = Pipeline(desk, runtime, create_app(runtime).test_client(), service.redis)
    desk.hooks.append(lambda line: pipe.writes_at.append(time.time()) if line.startswith("PUT ") else None)
    yield pipe
    service.stop()


def due_within(pipe: Pipeline, seconds: float, ticket_id: int) -> list[str]:
    """The ticket's timers that would fire within `seconds` (read from the store, nothing fired or changed)."""
    timers = pipe.runtime.timers(TENANT)
    due = pipe.redis.zrangebyscore(timers.pending_key, "-inf", time.time() + seconds)
    return [keys.as_text(key) for key in due if f":{ticket_id}:" in keys.as_text(key)]


def test_elapsed_trigger_fires_once_per_anchor_and_rearms_when_it_moves(idle: Pipeline) -> None:
    requester = idle.desk.add_user("Jane Doe", "jane@globex.example")
    ticket_id = int(idle.desk.create_ticket("Export broken", "The export fails", requester)["id"])
    idle.desk.customer_comment(ticket_id, "Hello?")
    idle.deliver_pending()
    wait_for(lambda: idle.state(ticket_id).get("anchors", {}).get("requester_update"))
    first_anchor = parse_instant(idle.state(ticket_id)["anchors"]["requester_update"])
    assert first_anchor is not None
    wait_for(lambda: len(idle.writes(ticket_id)) >= 1)
    assert idle.writes(ticket_id)[0]["group_id"] == 102
    assert first_anchor.timestamp() + 2.0 <= idle.writes_at[0] < first_anchor.timestamp() + 3.0
    idle.deliver_pending()  # our own update echoes back: not activity, the anchor stays
    wait_for(lambda: sum(idle.runtime.queue.backlog(TENANT).values()) == 0)
    assert due_within(idle, 3600, ticket_id) == [], "fired once for this anchor: nothing armed for it again"
    assert len(idle.writes(ticket_id)) == 1, "once per anchor value"

    idle.desk.customer_comment(ticket_id, "Still broken")
    idle.deliver_pending()
    wait_for(lambda: len(idle.writes(ticket_id)) >= 2)
    second_anchor = parse_instant(idle.state(ticket_id)["anchors"]["requester_update"])
    assert second_anchor is not None and second_anchor > first_anchor
    assert idle.writes(ticket_id)[1]["group_id"] == 103
    assert second_anchor.timestamp() + 2.0 <= idle.writes_at[1]
    wait_for(lambda: idle.state(ticket_id)["fired"].get("idle") == idle.state(ticket_id)["anchors"]["requester_update"])
    assert idle.state(ticket_id)["timers"] == {}, "fired for this anchor: nothing left armed"
    assert idle.runtime.timers(TENANT).count() == 0


def test_trigger_due_while_its_condition_is_false_is_looked_at_again_after_activity(idle: Pipeline) -> None:
    requester = idle.desk.add_user("Jane Doe", "jane@globex.example")
    ticket_id = int(idle.desk.create_ticket("Export broken", "The export fails", requester)["id"])
    idle.desk.add_comment(ticket_id, "We are looking into it", public=True, author_id=901)
    idle.desk.agent_update(ticket_id, status="pending")  # waiting on the customer when `silence` comes due
    idle.deliver_pending()
    wait_for(lambda: idle.state(ticket_id).get("status") == "pending")
    # `silence` cannot fire while the ticket waits on the customer: its timer is not even armed.
    assert not any("silence" in name for name in idle.state(ticket_id).get("timers", {}))
    assert due_within(idle, 3600, ticket_id) == []
    replied = parse_instant(idle.state(ticket_id)["anchors"]["public_reply"])
    assert replied is not None
    time.sleep(max(0.0, replied.timestamp() + 2.1 - time.time()))  # live timers: let `silence` come due
    assert not [w for w in idle.writes(ticket_id) if w.get("comment")]
    idle.desk.agent_update(ticket_id, status="open")  # activity: `silence` gets another look at once
    reopened = time.time()
    idle.deliver_pending()
    wait_for(lambda: any(w.get("comment", {}).get("body") == "Still on it" for w in idle.writes(ticket_id)))
    replies = [w for w in idle.writes(ticket_id) if w.get("comment", {}).get("body") == "Still on it"]
    assert len(replies) == 1
    assert idle.writes_at[idle.writes(ticket_id).index(replies[0])] - reopened < 1.5
