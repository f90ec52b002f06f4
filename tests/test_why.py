"""`escalator why`: a ticket escalated by a keyword and then by an SLA breach, explained from what the live
service left in Redis (fake Zendesk, real receiver, worker and timers), as text and as the escalation JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.cli import main
from escalator.plugin.config import load_config
from escalator.plugin.embedded import EmbeddedService
from escalator.plugin.explain import explain
from escalator.plugin.explain_text import format_text
from escalator.rules.model import format_instant, parse_instant
from tests.support import SECRET, TENANT, Pipeline, wait_for
from tests.test_seed_policy import MONDAY_10AM, walk
from tests.test_seed_policy import POLICY as SHIPPED

ADMIN = "why-admin-token-0123456789"
POLICY: dict[str, Any] = {
    "version": 1,
    "tiers": [
        {"id": "L1", "name": "Frontline", "group": "Tier 1"},
        {"id": "L2", "name": "Specialists", "group": "Tier 2"},
        {"id": "L3", "name": "Engineering", "group": "Tier 3"},
    ],
    "slas": [
        {"tier": "L2", "priority": "*", "first_response": "3s", "resolution": "8h", "warn_at": [0.5]},
        {"tier": "L3", "priority": "*", "first_response": "1h", "resolution": "8h"},
    ],
    "triggers": [
        {
            "id": "outage-keyword",
            "on": ["ticket.created", "comment.added"],
            "if": {"field": "text", "operator": "contains_any", "value": ["outage"]},
            "then": [{"action": "escalate", "to": "L2"}],
        },
        {"id": "breach-moves-up", "on": ["sla.breached"], "then": [{"action": "escalate", "to": "next"}]},
    ],
}


@pytest.fixture
def live(redis_url: str, desk: FakeZendesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    (tmp_path / "rules.json").write_text(json.dumps(POLICY))
    config_file = tmp_path / "escalator.json"
    tenant = {
        "vendor": "zendesk",
        "base_url": desk.base_url,
        "auth": {"email": "escalator@acme.example", "api_token": "token"},
        "webhook_secret": SECRET,
        "rules": "rules.json",
    }
    config_file.write_text(json.dumps({"admin_token": ADMIN, "tenants": {TENANT: tenant}}))
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config_file))
    monkeypatch.setenv("REDIS_URL", redis_url)
    service = EmbeddedService(load_config(config_file), redis.Redis.from_url(redis_url))
    runtime = service.start()
    yield Pipeline(desk, runtime, create_app(runtime).test_client(), service.redis)
    service.stop()


def why(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["why", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_why_explains_a_keyword_escalation_then_a_breach(live: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    requester = live.desk.add_user("Dana Smith", "dana@shop.example")
    ticket_id = int(live.desk.create_ticket("Dashboard is slow", "Pages take a minute.", requester)["id"])
    live.deliver_pending()
    wait_for(lambda: live.state(ticket_id).get("tier") == "L1")
    live.desk.customer_comment(ticket_id, "Now it is a full outage for everyone.")
    live.deliver_pending()
    wait_for(lambda: live.state(ticket_id).get("tier") == "L2")
    wait_for(lambda: live.state(ticket_id).get("tier") == "L3")  # the 3-second first response breached
    wait_for(lambda: b"breach-moves-up" in b"".join(live.redis.lrange(keys.journal(TENANT, str(ticket_id)), 0, -1)))

    code, out, err = why(capsys, TENANT, str(ticket_id))
    assert code == 0 and "escalator:" not in err
    lines = out.splitlines()
    assert lines[0] == f"ticket {ticket_id} of {TENANT}: L3 (Engineering), group Tier 3, escalated"
    moves = [line.strip() for line in lines if " -> " in line and " by " in line]
    assert len(moves) == 2
    keyword, breach = moves
    assert "escalated L1 -> L2 by rule outage-keyword: " in keyword and "outage" in keyword.split(": ", 1)[1]
    assert "escalated L2 -> L3 by rule breach-moves-up: " in breach and "breach" in breach.split(": ", 1)[1]
    keyword_at, breach_at = (parse_instant(move.split()[0]) for move in moves)
    assert keyword_at is not None and breach_at is not None
    assert 3.0 <= (breach_at - keyword_at).total_seconds() < 4.5, "the breach came at the 3-second target"
    journal = out.split("journal (oldest first):", 1)[1].split("\nSLA clocks", 1)[0]
    assert "outage-keyword: escalate L1 -> L2 (matched 'outage')" in journal
    assert "breach-moves-up: escalate L2 -> L3" in journal
    assert "comment.added" in journal and "timer.elapsed" in journal
    clocks = out.split("SLA clocks:", 1)[1].split("\nnext:", 1)[0]
    assert "first response (L3): due " in clocks and "running" in clocks
    assert "resolution (L3): due " in clocks
    upcoming = out.split("\nnext:", 1)[1]
    assert "first response SLA breach in L3; rules that react: breach-moves-up (escalate to next)" in upcoming

    code, out, _ = why(capsys, TENANT, str(ticket_id), "--json")
    data = json.loads(out)
    assert code == 0
    assert [(m["from"], m["to"], m["by"], m["rule"]) for m in data["escalations"]] == [
        ("L1", "L2", "rule", "outage-keyword"),
        ("L2", "L3", "rule", "breach-moves-up"),
    ]
    assert [m["at"] for m in data["escalations"]] == [format_instant(keyword_at), format_instant(breach_at)]
    assert "outage" in data["escalations"][0]["reason"] and "breach" in data["escalations"][1]["reason"]
    assert (data["tier"], data["group"], data["escalated"], data["bounces"]) == ("L3", "Tier 3", True, 0)
    first = next(clock for clock in data["clocks"] if clock["metric"] == "first_response")
    l3_started = parse_instant(live.state(ticket_id)["clocks"]["first_response"]["started_at"])
    assert l3_started is not None
    assert first == {
        "metric": "first_response",
        "due": format_instant(l3_started + timedelta(hours=1)),
        "paused": False,
        "breached": False,
    }
    answer = live.client.get(
        f"/api/tenants/{TENANT}/tickets/{ticket_id}/escalation", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    endpoint = answer.get_json()
    assert {key: endpoint[key] for key in endpoint if key != "next"} == {k: data[k] for k in data if k != "next"}
    assert [step["what"] for step in endpoint["next"]] == [step["what"] for step in data["next"]]


def test_why_for_an_unknown_ticket_is_one_line_and_exit_1(live: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = why(capsys, TENANT, "999")
    assert code == 1 and out == ""
    assert [line for line in err.splitlines() if line.startswith("escalator:")] == [
        f"escalator: Escalator has no record of ticket 999 of {TENANT}: check the id, or import open tickets "
        f"with `escalator backfill {TENANT}`"
    ]
    with pytest.raises(SystemExit) as unknown:
        main(["why", "globex", "1"])
    assert unknown.value.code == 2 and "no tenant 'globex'" in capsys.readouterr().err


def test_why_without_redis_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    (tmp_path / "rules.json").write_text(json.dumps(POLICY))
    config = tmp_path / "escalator.json"
    config.write_text(json.dumps({"tenants": {TENANT: {"vendor": "zendesk", "subdomain": "acme",
        "auth": {"oauth_token": "t"}, "webhook_secret": "s", "rules": "rules.json"}}}))  # fmt: skip
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    code, _, err = why(capsys, TENANT, "1")
    assert code == 3 and "cannot reach Redis" in err and len(err.strip().splitlines()) == 1


# --- the builder on its own: states the engine wrote, old and odd ones included -----------------------------


def test_a_paused_clock_has_no_deadline_and_a_spent_one_is_breached() -> None:
    policy = SHIPPED
    now = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    clock = {"unit": "L2", "target": 1800.0, "calendar": "", "warn_at": [0.75], "pause_on": ["pending"]}
    data = {
        "tier": "L2",
        "groups": ["L1", "L2", "group:900"],
        "bounces": 0,
        "status": "pending",
        "escalations": [
            {
                "at": "2026-03-09T14:00:00Z",
                "source": "L1",
                "target": "L2",
                "rule": "",
                "by": "agent",
                "reason": "customer on a call with us",
                "actor": "7",
                "direction": "up",
            },
            {
                "at": "2026-03-09T14:10:00Z",
                "source": "L2",
                "target": "L1",
                "rule": "",
                "by": "agent",
                "direction": "down",
            },
        ],
        "clocks": {
            "first_response": {
                **clock,
                "metric": "first_response",
                "started_at": "2026-03-09T14:00:00Z",
                "elapsed": 600.0,
                "running_since": None,
                "alerted": [],
            },
            "resolution": {
                **clock,
                "metric": "resolution",
                "target": 600.0,
                "started_at": "2026-03-09T14:00:00Z",
                "elapsed": 0.0,
                "running_since": "2026-03-09T14:55:00Z",
                "alerted": [],
            },
            "mystery": {"shape": "from a later version"},
        },
        "a_field_from_a_later_version": True,
    }
    explained = explain(policy, data, "7", now, ['{"not": "an entry"', "[]", json.dumps({"reasons": ["x"]})])
    result = explained.to_json()
    assert result["group"] == "900", "a group no tier or team owns: its id"
    assert result["escalations"] == [
        {"at": "2026-03-09T14:00:00Z", "from": "L1", "to": "L2", "by": "agent", "rule": None,
         "reason": "customer on a call with us"},
    ], "the de-escalation is a move, not an escalation"  # fmt: skip
    assert result["escalated"] is True
    assert result["clocks"] == [
        {"metric": "first_response", "due": None, "paused": True, "breached": False},
        {"metric": "resolution", "due": "2026-03-09T15:05:00Z", "paused": False, "breached": False},
    ]
    later = explain(policy, data, "7", now + timedelta(minutes=10)).to_json()
    assert later["clocks"][1] == {"metric": "resolution", "due": "2026-03-09T15:05:00Z", "paused": False,
                                  "breached": True}  # fmt: skip
    assert [decision.reasons for decision in explained.journal] == [["x"]]


def test_why_and_the_json_say_whether_a_pause_stops_the_clocks_and_why_not() -> None:
    parked = walk(priority="high")
    parked.created(MONDAY_10AM)
    parked.agent_changes(MONDAY_10AM + timedelta(minutes=10), status="pending")  # no question asked
    now = MONDAY_10AM + timedelta(minutes=20)
    explained = explain(SHIPPED, parked.state.to_dict(), "7", now)
    pause = explained.to_json()["pause"]
    assert pause["paused"] is False and pause["pauses"] == 1
    assert pause["reason"] == "the clocks run: nobody replied to the customer in the 15 minutes before the pause"
    assert not any(clock["paused"] for clock in explained.to_json()["clocks"])

    asked = walk(priority="high")
    asked.created(MONDAY_10AM)
    asked.agent_writes("Which browser?", MONDAY_10AM + timedelta(minutes=5), status="pending")
    explained = explain(SHIPPED, asked.state.to_dict(), "7", now)
    result = explained.to_json()
    assert result["pause"]["paused"] is True and result["pause"]["resumes_at"] == "2026-03-16T14:05:00Z"
    assert all(clock["paused"] for clock in result["clocks"])
    assert any(step["what"].startswith("the pause allowance (max_pause) runs out") for step in result["next"])
    text = format_text("acme", explained, SHIPPED, now)
    assert "  pause: the clocks stand still: waiting on the customer (pending) (1 pause(s), 0.0 h in all)" in text
