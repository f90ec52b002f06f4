"""`escalator export`: the help desks' ticket history as history files, streamed, resumable, replayable.

The fake help desks serve the real endpoints (Zendesk's incremental ticket-event export and ticket audits,
Freshdesk's ticket list and conversations); the checkpoint lives in the test's private Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from escalator.fakedesk.freshdesk import HUMAN_AGENT_ID, OWN_AGENT_ID, FakeFreshdesk
from escalator.fakedesk.zendesk import AGENT_ID, FakeZendesk
from escalator.plugin import keys
from escalator.plugin.cli import main
from escalator.plugin.demo import seed_policy_path
from escalator.plugin.history.records import HistoryRecord, parse_line
from tests.support_freshdesk import API_KEY

TENANT = "acme"


def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str | None, tenant: dict[str, Any]) -> None:
    config = tmp_path / "escalator.json"
    settings = {"webhook_secret": {"env": "UNSET_SECRET"}, "rules": str(seed_policy_path()), **tenant}
    config.write_text(json.dumps({"tenants": {TENANT: settings}}))
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    if redis_url is None:
        monkeypatch.delenv("REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("REDIS_URL", redis_url)


def zendesk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str | None, desk: FakeZendesk) -> None:
    tenant = {"vendor": "zendesk", "base_url": desk.base_url, "auth": {"oauth_token": "t"}}
    configure(monkeypatch, tmp_path, redis_url, tenant)


def records(path: Path) -> list[HistoryRecord]:
    parsed = [parse_line(raw, number) for number, raw in enumerate(path.read_bytes().splitlines(), start=1)]
    assert all(isinstance(item, HistoryRecord) for item in parsed), [
        p for p in parsed if not isinstance(p, HistoryRecord)
    ]
    return [item for item in parsed if isinstance(item, HistoryRecord)]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in path.read_text().splitlines()]


def as_escalator(desk: FakeZendesk, ticket_id: int, changes: dict[str, Any]) -> None:
    """Escalator's own write, through the API as the integration user."""
    answer = requests.put(
        f"{desk.base_url}/api/v2/tickets/{ticket_id}.json",
        json={"ticket": changes},
        headers={"Authorization": "Bearer t"},
        timeout=10,
    )
    assert answer.status_code == 200


@pytest.fixture
def zdesk(desk: FakeZendesk) -> Iterator[FakeZendesk]:
    # The last minute too: the test's "now" changes are part of the export (two saves within one second put
    # the second one a second ahead, as the fake keeps updated_at strictly increasing).
    desk.export_delay = -2.0
    yield desk


def test_zendesk_history_with_snapshots_comments_and_solves_and_without_escalators_writes(
    zdesk: FakeZendesk, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    desk = zdesk
    now = datetime.now(UTC).replace(microsecond=0)
    base = now - timedelta(hours=3)
    globex = desk.add_organization("Globex", ["enterprise"], {"account_manager": "am@acme.example"})
    jane = desk.add_user(
        "Jane Doe", "jane@globex.example", organization_id=globex, locale="es-MX", time_zone="Europe/Madrid"
    )
    bob = desk.add_user("Bob Stone", "bob@initech.example")
    old = int(desk.create_ticket("Old question", "Where is the report?", bob, at=now - timedelta(days=3))["id"])
    outage = int(
        desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane, priority="high", at=base)["id"]
    )
    desk.customer_comment(outage, "Still down for everyone", at=base + timedelta(minutes=10))
    desk.add_comment(outage, "Looking into it", public=True, author_id=AGENT_ID, at=base + timedelta(minutes=20))
    desk.customer_comment(old, "Any news?", at=base + timedelta(minutes=30))
    as_escalator(desk, outage, {"priority": "urgent", "comment": {"body": "Escalated", "public": False}})
    desk.agent_update(outage, group_id=102, status="solved")

    out = tmp_path / "history.jsonl"
    zendesk(monkeypatch, tmp_path, redis_url, desk)
    assert main(["export", TENANT, "--since", "1d", "--out", str(out)]) == 0
    assert "6 lines" in capsys.readouterr().out

    found = lines(out)
    assert [(line["ticket"]["id"], line["kind"], line["actor"]["role"]) for line in found] == [
        (str(outage), "ticket.created", "requester"),
        (str(outage), "comment.added", "requester"),
        (str(outage), "comment.added", "agent"),
        (str(outage), "ticket.updated", "agent"),
        (str(old), "comment.added", "requester"),
        (str(outage), "ticket.solved", "agent"),
    ]
    created, _comment, _reply, opened, news, solved = found
    assert list(created)[:4] == ["at", "kind", "actor", "ticket"] and next(iter(created["ticket"])) == "id"
    assert created["at"] == base.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert created["comment"] == {"body": "Nobody can sign in.", "public": True, "id": created["comment"]["id"]}
    ticket = created["ticket"]
    assert (ticket["subject"], ticket["status"], ticket["priority"], ticket["group"]) == (
        "Outage: cannot log in", "new", "high", "Tier 1",
    )  # fmt: skip
    assert ticket["requester"]["email"] == "jane@globex.example" and ticket["requester"]["locale"] == "es-MX"
    assert ticket["requester"]["time_zone"] == "Europe/Madrid"
    assert ticket["organization"]["tags"] == ["enterprise"]
    assert ticket["organization"]["fields"] == {"account_manager": "am@acme.example"}
    assert opened["changes"] == {"status": ["new", "open"]} and opened["ticket"]["status"] == "open"
    assert solved["changes"] == {"group": ["Tier 1", "Tier 2"], "status": ["open", "solved"]}
    assert solved["ticket"]["priority"] == "high", "Escalator's own change to urgent is not the people's history"
    assert all("Escalated" not in json.dumps(line) for line in found)
    # The old ticket was created before the window: its fields come from its audits.
    assert (news["ticket"]["subject"], news["ticket"]["status"], news["ticket"]["group"]) == (
        "Old question",
        "new",
        "Tier 1",
    )
    assert ("GET", f"/api/v2/tickets/{old}/audits.json") in desk.requests
    assert len(records(out)) == 6

    assert main(["simulate", "rules/seed-policy.json", "--history", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tickets"] == 2 and report["routed"]["by_rule"]["outage-or-login"] == 1


def test_an_interrupted_export_resumes_where_it_stopped(
    zdesk: FakeZendesk, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    desk = zdesk
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    people = [desk.add_user(f"Customer {n}", f"c{n}@example.com") for n in range(5)]
    for number in range(1005):  # more than one export page (1,000 updates)
        desk.create_ticket(f"Question {number}", "How do I?", people[number % 5], at=start + timedelta(seconds=number))
    calls: list[str] = []

    def fail_the_second_page(line: str) -> None:
        if line.startswith("GET /api/v2/incremental/ticket_events"):
            calls.append(line)
            if len(calls) == 2:
                desk.fail(r"GET /api/v2/incremental/ticket_events", 400)

    desk.hooks.append(fail_the_second_page)
    out = tmp_path / "history.jsonl"
    zendesk(monkeypatch, tmp_path, redis_url, desk)
    assert main(["export", TENANT, "--since", "1d", "--out", str(out)]) == 1
    assert "run it again to continue from the checkpoint" in capsys.readouterr().err
    assert len(lines(out)) == 1000
    with out.open("ab") as stream:
        stream.write(b'{"at": "2026-03-0')  # a chunk half-written when the process died

    assert main(["export", TENANT, "--since", "1d", "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "1,005 lines" in said.out and "(resumed)" in said.out and "resuming" in said.err
    assert len(calls) == 3, "the resumed export asked only for the page it had not written"
    resumed = records(out)
    assert len(resumed) == 1005
    assert len({record.ticket_id for record in resumed}) == 1005, "the page boundary's second is not repeated"

    again = tmp_path / "again.jsonl"
    assert main(["export", TENANT, "--since", "1d", "--out", str(again), "--restart"]) == 0
    assert again.read_bytes() == out.read_bytes(), "resuming wrote what one uninterrupted export writes"
    saved = redis.Redis.from_url(redis_url).hgetall(keys.checkpoint(TENANT, "export"))
    assert saved[b"state"] == b"done"


def test_export_says_what_it_needs(
    zdesk: FakeZendesk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    zendesk(monkeypatch, tmp_path, None, zdesk)
    with pytest.raises(SystemExit) as stopped:
        main(["export", TENANT, "--out", str(tmp_path / "h.jsonl")])
    assert stopped.value.code == 2 and "set REDIS_URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as unknown:
        main(["export", "nope", "--out", str(tmp_path / "h.jsonl")])
    assert unknown.value.code == 2 and "no tenant 'nope'" in capsys.readouterr().err


def test_freshdesk_history_from_tickets_and_conversations(
    fake_freshdesk: FakeFreshdesk, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    desk = fake_freshdesk
    now = datetime.now(UTC).replace(microsecond=0)
    base = now - timedelta(hours=2)
    company = desk.add_company("Umbrella", account_tier="Enterprise")
    lena = desk.add_contact("Lena Berg", "lena@umbrella.example", language="de", company_id=company)
    ticket = desk.create_ticket("Invoice wrong", "We were charged twice.", lena, priority=3, at=base)
    ticket_id = ticket["id"]
    desk.customer_reply(ticket_id, "Any update?", at=base + timedelta(minutes=5))
    desk.agent_reply(ticket_id, "Checking with billing", at=base + timedelta(minutes=10))
    desk.agent_note(ticket_id, "Refund pending approval", agent_id=HUMAN_AGENT_ID, at=base + timedelta(minutes=15))
    desk.agent_note(ticket_id, "Escalator handoff note", agent_id=OWN_AGENT_ID, at=base + timedelta(minutes=16))
    desk.agent_update(ticket_id, status=3)  # pending: waiting on the customer

    tenant = {"vendor": "freshdesk", "base_url": desk.base_url, "auth": {"api_key": API_KEY}}
    configure(monkeypatch, tmp_path, redis_url, tenant)
    out = tmp_path / "fd.jsonl"
    assert main(["export", TENANT, "--since", "1d", "--out", str(out)]) == 0
    found = lines(out)
    assert [(line["kind"], line["actor"]["role"], line.get("comment", {}).get("public")) for line in found] == [
        ("ticket.created", "requester", True),
        ("comment.added", "requester", True),
        ("comment.added", "agent", True),
        ("comment.added", "agent", False),
        ("ticket.updated", "system", None),
    ]
    assert [line["comment"]["body"] for line in found[:4]] == [
        "We were charged twice.", "Any update?", "Checking with billing", "Refund pending approval",
    ]  # fmt: skip
    assert found[-1]["changes"] == {"status": ["open", "pending"]}
    assert [line["ticket"]["status"] for line in found] == ["open", "open", "open", "open", "pending"]
    first = found[0]["ticket"]
    assert (first["group"], first["priority"], first["requester"]["locale"]) == ("Tier 1", "high", "de")
    assert (
        first["organization"]["name"] == "Umbrella" and first["organization"]["fields"]["account_tier"] == "Enterprise"
    )
    assert len(records(out)) == 5
    assert all("Escalator handoff" not in json.dumps(line) for line in found)
