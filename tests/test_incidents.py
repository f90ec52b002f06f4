"""A mass incident end to end, on both vendors, with the shipped playbook (its `outage` detector: 4 tickets in
15 minutes): 30 outage tickets produce one problem ticket for Tier 2, the first three alone are escalated one
by one, every customer is told in bulk, and solving the problem sends each ticket its resolution once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from escalator.fakedesk.freshdesk import OWN_AGENT_ID
from escalator.plugin.incidents.store import IncidentStore
from tests.support import TENANT as ZENDESK_TENANT
from tests.support import Pipeline
from tests.support_freshdesk import FreshdeskPipeline
from tests.support_vendors import SEED, VENDORS, let_time_pass, vendor_pipeline

TIER_1, TIER_2 = 101, 102


class Run:
    def __init__(self, vendor: str, pipe: Pipeline | FreshdeskPipeline, tenant: str) -> None:
        self.vendor, self.pipe, self.tenant = vendor, pipe, tenant
        self.fake: Any = pipe.desk

    def open(self, n: int) -> int:
        name, email = f"Customer {n}", f"c{n}@org{n % 7}.example"
        add = self.fake.add_user if self.vendor == "zendesk" else self.fake.add_contact
        requester = add(name, email)
        return int(self.fake.create_ticket("Outage", f"Nothing loads for us ({n}).", requester)["id"])

    def later(self, seconds: float) -> None:
        """`seconds` on: timers due by then fire (incident steps included) and the worker runs them."""
        let_time_pass(self.pipe, self.tenant, seconds)

    def public_by_us(self, ticket_id: int) -> list[str]:
        if self.vendor == "zendesk":
            return [c["body"] for c in self.fake.comments[ticket_id] if c["public"] and c["author_id"] == 900]
        return [
            c["body_text"]
            for c in self.fake.conversations[ticket_id]
            if not c["private"] and c["user_id"] == OWN_AGENT_ID
        ]

    def solve_problem(self, problem_id: int, comment: str) -> None:
        if self.vendor == "zendesk":
            self.fake.add_comment(problem_id, comment, public=True, author_id=901)
            self.fake.agent_update(problem_id, status="solved")
        else:
            self.fake.agent_reply(problem_id, comment)
            self.fake.agent_update(problem_id, status=4)


@pytest.fixture(params=VENDORS)
def run(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Run]:
    for pipe, tenant in vendor_pipeline(request.param, redis_url):
        yield Run(request.param, pipe, tenant)


def test_thirty_outage_tickets_are_one_incident_told_in_bulk_and_resolved_once(run: Run) -> None:
    tickets = []
    calls_before = len(run.fake.requests)
    for n in range(30):  # two minutes of tickets, as fast as the help desk sends them
        tickets.append(run.open(n))
        run.pipe.settle()
        if n == 3:
            run.later(1)  # the incident's first step: its problem ticket and the first notices
    run.later(25)  # the joiners' bulk notice
    opening_calls = len(run.fake.requests) - calls_before

    (incident,) = IncidentStore(run.pipe.redis, run.tenant).all()
    problem = int(incident.problem_id or 0)
    record = run.fake.tickets[problem]
    assert record["group_id"] == TIER_2 and record["priority"] in ("urgent", 4)
    alone = [t for t in tickets if run.fake.tickets[t]["group_id"] == TIER_2]
    assert alone == tickets[:3], "only the first three were escalated one by one"
    told = Counter(len(run.public_by_us(t)) for t in tickets[3:])
    assert told == Counter({1: 27}), "every joiner has exactly one message: the incident notice"
    assert all("affecting several customers" in run.public_by_us(t)[-1] for t in tickets)
    assert incident.counts["notified"] >= 25 and incident.counts["pending"] == 0
    # Writes and the bulk jobs' polls: what the 30 tickets cost beyond reading each one's customer once.
    spent = [(method, path) for method, path in run.fake.requests[calls_before:] if method != "GET" or "job" in path]
    assert len(spent) <= 30, f"{len(spent)} calls while the incident opened: {Counter(spent)}"
    if run.vendor == "zendesk":
        linked = [t for t in tickets if run.fake.tickets[t].get("problem_id") == problem]
        assert len(linked) == 30 and record["type"] == "problem"
    else:
        assert record["association_type"] == 3, "a tracker"
    print(f"{run.vendor}: {len(spent)} writes and job polls, {opening_calls} calls in all for 30 tickets")

    run.solve_problem(problem, "We restarted the login service; everything works again.")
    run.pipe.settle()
    run.later(1)
    for ticket in tickets:
        resolutions = [body for body in run.public_by_us(ticket) if "has been resolved" in body]
        assert len(resolutions) == 1, f"ticket {ticket}: {resolutions}"
        assert "We restarted the login service" in resolutions[0]
    run.later(60)  # nothing more goes out later
    assert all(sum("has been resolved" in b for b in run.public_by_us(t)) == 1 for t in tickets)
    (closed,) = IncidentStore(run.pipe.redis, run.tenant).all()
    assert closed.status == "closed" and closed.counts["resolved"] == 30


def test_an_incident_opened_and_resolved_by_hand_on_the_command_line(
    redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from escalator.plugin.cli import main

    for pipe, _ in vendor_pipeline("zendesk", redis_url):
        run = Run("zendesk", pipe, ZENDESK_TENANT)
        config = tmp_path / "escalator.json"
        config.write_text(json.dumps({"tenants": {ZENDESK_TENANT: {
            "vendor": "zendesk", "base_url": pipe.desk.base_url, "auth": {"oauth_token": "t"},
            "webhook_secret": "x", "rules": str(SEED)}}}))  # fmt: skip
        monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
        monkeypatch.setenv("REDIS_URL", redis_url)
        with pytest.raises(SystemExit) as refused:
            main(["incident", "open", ZENDESK_TENANT, "nope"])
        assert refused.value.code == 2
        assert "has no incident rule 'nope' (its rules file has: outage)" in capsys.readouterr().err
        assert main(["incident", "open", ZENDESK_TENANT, "outage", "--note", "status page is red"]) == 0
        assert main(["incident", "open", ZENDESK_TENANT, "outage"]) == 1, "one open incident per rule"
        run.later(1)
        first = run.open(1)  # a matching ticket joins at once: no escalation of its own
        run.pipe.settle()
        run.later(25)
        assert run.fake.tickets[first]["group_id"] == TIER_1 and len(run.public_by_us(first)) == 1
        capsys.readouterr()
        assert main(["incident", "list", ZENDESK_TENANT, "--json"]) == 0
        (listed,) = json.loads(capsys.readouterr().out)
        assert listed["opened_by"] == "admin" and listed["problem_id"] and listed["note"] == "status page is red"
        assert main(["incident", "close", ZENDESK_TENANT, listed["id"], "--resolve"]) == 0
        run.later(1)
        assert "has been resolved" in run.public_by_us(first)[-1]
        assert main(["incident", "list", ZENDESK_TENANT]) == 0
        assert " closed " in capsys.readouterr().out
        assert main(["metrics", ZENDESK_TENANT, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["incidents"], report["incident_tickets"]) == (1, 1)
        assert report["escalations_by_rule"].get("outage") == 1
