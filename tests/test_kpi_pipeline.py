"""The KPIs of DESIGN §8 end to end, on both vendors: the shipped playbook deciding through the real pipeline
(receiver, Redis, RQ worker, timers), and `escalator metrics --json` reading what it recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from escalator.fakedesk.freshdesk import FakeFreshdesk
from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.cli import main
from tests.support import TENANT, Pipeline, pipeline
from tests.support_freshdesk import API_KEY, STATUSES, FreshdeskPipeline, freshdesk_pipeline, new_desk
from tests.support_freshdesk import SECRET as FRESHDESK_SECRET
from tests.support_freshdesk import TENANT as FRESHDESK_TENANT
from tests.support_vendors import SEED, let_time_pass


@pytest.fixture
def zendesk(redis_url: str, desk: FakeZendesk) -> Iterator[Pipeline]:
    yield from pipeline(redis_url, desk, rules_path=SEED)


@pytest.fixture
def freshdesk(redis_url: str) -> Iterator[FreshdeskPipeline]:
    fake = new_desk()
    fake.start()
    try:
        yield from freshdesk_pipeline(redis_url, fake, rules_path=SEED)
    finally:
        fake.stop()


def metrics_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, redis_url: str, **tenant: Any
) -> dict[str, Any]:
    """`escalator metrics <tenant> --json`, as an admin runs it against the deployment's Redis."""
    name = tenant.pop("name")
    config = tmp_path / "escalator.json"
    config.write_text(json.dumps({"tenants": {name: {"webhook_secret": "not-used-here", **tenant}}}))
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", redis_url)
    capsys.readouterr()
    assert main(["metrics", name, "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_zendesk_kpis_tell_routing_agent_escalations_touches_and_resolution(
    zendesk: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    redis_url: str,
) -> None:  # fmt: skip
    desk = zendesk.desk
    jane = desk.add_user("Jane Doe", "jane@globex.example")
    desk.create_ticket("Outage: nothing loads", "Since 9am, for everyone.", jane)  # a keyword: routed, not escalated
    desk.create_ticket("How do I export?", "Where is the button?", jane)
    crash = int(desk.create_ticket("Export crashes", "Every export crashes.", jane)["id"])
    zendesk.settle()
    for attempt in ("Cleared the cache", "Tried another browser", "Reproduced on our side"):
        desk.add_comment(crash, attempt, public=False, author_id=901)  # one agent, three notes: one touch
    desk.agent_update(crash, group_id=102)  # the agent escalates to Tier 2 in Zendesk itself
    zendesk.settle()
    desk.agent_update(crash, status="solved")
    zendesk.settle()

    report = metrics_json(monkeypatch, capsys, tmp_path, redis_url, name=TENANT, vendor="zendesk",
                          base_url=desk.base_url, auth={"oauth_token": "t"}, rules=str(SEED))  # fmt: skip
    assert (report["tickets"], report["routed"], report["escalated"]) == (3, 1, 1)
    assert report["escalation_rate"] == round(1 / 3, 4)
    assert report["routings_by_rule"] == {"outage-or-login": 1}
    assert report["escalations_by_actor"] == {"rule": 0, "agent": 1}
    assert report["escalations_by_rule"] == {"agent": 1} and report["escalations_by_target"] == {"L2": 1}
    assert report["touches_per_escalated_ticket"] == 1.0
    resolution = report["escalated_resolution_hours"]
    assert resolution["count"] == 1 and 0 <= resolution["median"] < 0.1
    assert set(report["time_in_tier_hours"]) == {"L1", "L2"}
    assert report["moved_tickets"] == 2 and report["bounced_tickets"] == 0 and report["bounce_rate"] == 0.0


def test_freshdesk_kpis_count_an_agents_escalation_and_a_bounce(
    freshdesk: FreshdeskPipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path, redis_url: str,
) -> None:  # fmt: skip
    desk: FakeFreshdesk = freshdesk.desk
    jane = desk.add_contact("Jane Doe", "jane@globex.example")
    crash = int(desk.create_ticket("Export crashes", "Every export crashes.", jane)["id"])
    freshdesk.settle()
    desk.agent_note(crash, "Reproduced; needs a specialist")
    desk.agent_update(crash, group_id=102)
    freshdesk.settle()
    desk.agent_update(crash, group_id=101)  # straight back: a bounce, which goes to the leads
    freshdesk.settle()

    report = metrics_json(monkeypatch, capsys, tmp_path, redis_url, name=FRESHDESK_TENANT, vendor="freshdesk",
                          base_url=desk.base_url, auth={"api_key": API_KEY}, rules=str(SEED),
                          freshdesk={"statuses": STATUSES})  # fmt: skip
    assert (report["tickets"], report["escalated"]) == (1, 1)
    assert report["escalations_by_actor"] == {"rule": 1, "agent": 1}, "the agent's move, then the rule's to leads"
    assert report["escalations_by_target"] == {"L2": 1, "lead": 1}
    assert report["bounced_tickets"] == 1 and report["moved_tickets"] == 1 and report["bounce_rate"] == 1.0
    assert FRESHDESK_SECRET not in json.dumps(report)


def test_an_sla_breach_counts_against_attainment_and_as_a_rule_escalation(
    zendesk: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    redis_url: str,
) -> None:  # fmt: skip
    desk = zendesk.desk
    jane = desk.add_user("Jane Doe", "jane@globex.example")
    desk.create_ticket("Reports are slow", "Since the update.", jane, priority="urgent")
    desk.create_ticket("Question", "About the API.", jane)
    zendesk.settle()
    assert let_time_pass(zendesk, TENANT, 3 * 86400) > 0  # three days on: nobody answered

    report = metrics_json(monkeypatch, capsys, tmp_path, redis_url, name=TENANT, vendor="zendesk",
                          base_url=desk.base_url, auth={"oauth_token": "t"}, rules=str(SEED))  # fmt: skip
    first_response = report["sla"]["first_response"]
    assert first_response["breached"] == 2 and first_response["met"] == 0 and first_response["attainment"] == 0.0
    assert report["escalations_by_actor"]["rule"] >= 1 and report["escalated"] == 2


def test_a_customer_with_a_history_of_critical_issues_goes_straight_to_l2(zendesk: Pipeline) -> None:
    desk = zendesk.desk
    globex = desk.add_organization("Globex", ["standard"])
    jane = desk.add_user("Jane Doe", "jane@globex.example", organization_id=globex)
    for n in range(3):  # three urgent tickets in 90 days: kept in Redis as they happen
        desk.create_ticket(f"Outage {n}", "Nothing loads.", jane)
        zendesk.settle()
    question = int(desk.create_ticket("How do I export?", "Where is the button?", jane)["id"])
    zendesk.settle()
    assert desk.tickets[question]["group_id"] == 102, "at-risk: direct access to Tier 2"
    assert zendesk.redis.zcard(keys.history(TENANT, "organization", str(globex))) == 3

    other = desk.add_user("Ann Lee", "ann@initech.example", organization_id=desk.add_organization("Initech", []))
    fresh = int(desk.create_ticket("How do I export?", "Where is the button?", other)["id"])
    zendesk.settle()
    assert desk.tickets[fresh]["group_id"] == 101, "no history: the first tier"
