"""`simulate` agrees with the live service: one scenario, run both ways.

The scenario runs live first: a fake Zendesk, the webhook receiver, a real worker and the real timer loop
on real Redis (the embedded service's threads), with second-scale SLA targets so timers fire while the test
waits. Every webhook the help desk sends for what people did is also written down as a history line (the
live connector's own parse of it, at the instant it carries); Escalator's own echoes are delivered to the
service but left out of the history, as `escalator export` leaves them out. Then the history is replayed by
`simulate` on its virtual clock, and the two must agree per ticket: the escalations (instant, from, to,
rule), the SLA outcomes (instant), the replies and notes, and the reasons journalled for every decision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from escalator.connectors.registry import connector_for
from escalator.connectors.zendesk import values
from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.embedded import EmbeddedService
from escalator.plugin.history.reader import index_history
from escalator.plugin.history.replay import TicketRun, replay_ticket
from escalator.rules.loader import load_policy
from escalator.rules.model import format_instant
from tests.support import TENANT, Pipeline, tenant_config

OWN = "900"
POLICY: dict[str, Any] = {
    "version": 1,
    "tiers": [
        {"id": "L1", "name": "Frontline", "group": "Tier 1"},
        {"id": "L2", "name": "Specialists", "group": "Tier 2"},
        {"id": "L3", "name": "Engineering", "group": "Tier 3"},
    ],
    "slas": [
        {"tier": "L1", "priority": "high", "first_response": "3s"},
        {"tier": "L2", "priority": "*", "first_response": "1h"},
    ],
    "triggers": [
        {
            "id": "outage",
            "on": ["ticket.created", "comment.added"],
            "if": {"field": "customer_text", "operator": "contains_any", "value": ["outage"]},
            "then": [
                {"action": "escalate", "to": "L2"},
                {"action": "set_priority", "value": "urgent"},
                {"action": "reply", "template": "ack"},
                {"action": "note", "template": "handoff"},
            ],
        },
        {
            "id": "breach",
            "on": ["sla.breached"],
            "then": [
                {"action": "escalate", "to": "next"},
                {"action": "set_priority", "value": "+1"},
                {"action": "note", "template": "breached"},
            ],
        },
    ],
    "templates": {
        "ack": "Hi {{ requester.first_name }}, the {{ tier.name }} team has it.",
        "handoff": "Escalated by {{ rule.id }}",
        "breached": "{{ alert.metric }} breached in {{ escalation.source }}",
    },
}


@pytest.fixture
def live(redis_url: str, desk: FakeZendesk, tmp_path: Path) -> Iterator[Pipeline]:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(POLICY))
    config = Config(tenants={TENANT: tenant_config(desk.base_url, rules_path=rules)})
    service = EmbeddedService(config, redis.Redis.from_url(redis_url))
    runtime = service.start()
    yield Pipeline(desk, runtime, create_app(runtime).test_client(), service.redis)
    service.stop()


class Recorder:
    """Delivers what the help desk sends and writes the people's part of it down as history lines."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self.lines: list[dict[str, Any]] = []
        self.connector = connector_for("zendesk")

    def pump(self) -> None:
        outbox = self.pipe.desk._outbox
        while outbox:
            payload = outbox.pop(0).payload
            body = json.dumps(payload).encode()
            event = self.connector.parse(body, {}).event
            if event is not None and event.actor_id != OWN:
                self.lines.append(self.line(payload, event))
            assert self.pipe.post(payload).status_code in (200, 202)

    def line(self, payload: dict[str, Any], event: Any) -> dict[str, Any]:
        detail, desk = payload["detail"], self.pipe.desk
        requester = desk.users[int(detail["requester_id"])]
        comment = event.comment
        role = comment.author if comment else ("requester" if detail["actor_id"] == detail["requester_id"] else "agent")
        data: dict[str, Any] = {
            "at": format_instant(event.occurred_at),
            "kind": event.kind,
            "actor": {"id": event.actor_id, "role": role},
            "ticket": {
                "id": detail["id"],
                "subject": detail["subject"],
                "description": detail["description"],
                "status": values.status(detail["status"]),
                "priority": values.priority(detail["priority"]),
                "group": desk.groups[int(detail["group_id"])] if detail["group_id"] else None,
                "assignee": detail["assignee_id"],
                "requester": {"id": str(requester["id"]), "name": requester["name"], "email": requester["email"]},
                "tags": detail["tags"],
                "created_at": detail["created_at"],
            },
        }
        if comment is not None:
            data["comment"] = {"body": comment.body, "public": comment.public}
        if event.changes:
            data["changes"] = {name: list(pair) for name, pair in event.changes.items()}
        return data

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pump()
            time.sleep(0.02)


def live_outcome(pipe: Pipeline, ticket_id: str) -> dict[str, Any]:
    state = pipe.state(ticket_id)
    journal = [json.loads(raw) for raw in pipe.redis.lrange(keys.journal(TENANT, ticket_id), 0, -1)]
    comments = [write["comment"] for write in pipe.writes(int(ticket_id)) if "comment" in write]
    return {
        "escalations": [(e["at"], e["source"], e["target"], e["rule"]) for e in state.get("escalations", [])],
        "sla": [(s["metric"], s["unit"], s["outcome"], s["at"]) for s in state.get("sla_log", [])],
        "replies": sum(comment["public"] for comment in comments),
        "notes": sum(not comment["public"] for comment in comments),
        "reasons": [reason for entry in reversed(journal) for reason in entry["reasons"]],
        "tier": state.get("tier"),
        "priority": pipe.desk.tickets[int(ticket_id)]["priority"],
    }


def simulated_outcome(run: TicketRun) -> dict[str, Any]:
    state = run.state
    return {
        "escalations": [(e.at, e.source, e.target, e.rule) for e in state.escalations],
        "sla": [(s["metric"], s["unit"], s["outcome"], s["at"]) for s in state.sla_log],
        "replies": sum(action.action == "reply" for action in run.actions),
        "notes": sum(action.action == "note" for action in run.actions),
        "reasons": [reason for step in run.steps or [] for reason in step.reasons],
        "tier": state.tier,
        "priority": run.final_priority,
    }


def test_simulate_agrees_with_the_live_service_on_the_same_events(live: Pipeline, tmp_path: Path) -> None:
    desk, recorder = live.desk, Recorder(live)
    jane = desk.add_user("Jane Doe", "jane@globex.example")
    omar = desk.add_user("Omar Haddad", "omar@initech.example")
    lena = desk.add_user("Lena Berg", "lena@umbrella.example")
    outage = desk.create_ticket("Outage in the EU region", "Our dashboards show an outage since 9am.", jane)
    breach = desk.create_ticket("Export broken", "The CSV export fails.", omar, priority="high")
    paused = desk.create_ticket("Invoice PDF empty", "The invoice PDF is blank.", lena, priority="high")
    started = time.monotonic()
    recorder.pump()
    recorder.wait(1.0 - (time.monotonic() - started))
    desk.agent_update(paused["id"], status="pending")  # waits on the customer: its clock stands still
    recorder.wait(4.0 - (time.monotonic() - started))
    desk.add_comment(paused["id"], "Here is the invoice number: 4711", public=True, author_id=lena)
    # Over a second later, so the worker decides the two changes apart: a batch is decided on its newest
    # snapshot, which would resume the clock at the comment, while the history resumes it at the reopening.
    recorder.wait(5.2 - (time.monotonic() - started))
    desk.agent_update(paused["id"], status="open")
    recorder.wait(9.5 - (time.monotonic() - started))
    until = datetime.now(UTC)
    recorder.wait(0.5)

    history = tmp_path / "live.jsonl"
    history.write_text("".join(json.dumps(item) + "\n" for item in recorder.lines))
    policy = load_policy(POLICY)
    simulated: dict[str, TicketRun] = {}
    with index_history(history) as index:
        for ticket_id, records in index.tickets():
            simulated[ticket_id] = replay_ticket(policy, records, until, trace=True)

    ids = {name: str(ticket["id"]) for name, ticket in (("outage", outage), ("breach", breach), ("paused", paused))}
    assert set(simulated) == set(ids.values())
    for name, ticket_id in ids.items():
        assert simulated_outcome(simulated[ticket_id]) == live_outcome(live, ticket_id), name

    # Not vacuous: each ticket did what the scenario is about, at the instants the rules say.
    by_name = {name: live_outcome(live, ticket_id) for name, ticket_id in ids.items()}
    assert [e[2:] for e in by_name["outage"]["escalations"]] == [("L2", "outage")]
    assert (by_name["outage"]["replies"], by_name["outage"]["notes"]) == (1, 1)
    assert [e[2:] for e in by_name["breach"]["escalations"]] == [("L2", "breach")]
    assert by_name["breach"]["priority"] == "urgent" and by_name["breach"]["notes"] == 1
    created = datetime.fromisoformat(breach["created_at"].replace("Z", "+00:00"))
    breached_at = datetime.fromisoformat(by_name["breach"]["escalations"][0][0].replace("Z", "+00:00"))
    assert 3.0 <= (breached_at - created).total_seconds() < 4.0
    paused_breach = datetime.fromisoformat(by_name["paused"]["escalations"][0][0].replace("Z", "+00:00"))
    assert (paused_breach - breached_at).total_seconds() > 2.0, "the pending pause moved the breach later"
    assert [entry[2] for entry in by_name["paused"]["sla"]] == ["breached"]
