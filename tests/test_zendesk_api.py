"""ZendeskClient against Zendesk's REST shapes (served by `responses`): reading tickets back, resolving
groups, and writing a plan in as few PUTs as Zendesk allows without ever sending a comment twice."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from escalator.connectors.errors import ConflictError, PermanentError, TransientError
from escalator.connectors.http import VendorHttp
from escalator.connectors.zendesk.api import ZendeskClient, auth_headers
from escalator.connectors.zendesk.webhook import parse_event
from escalator.rules.model import Ticket, TicketEvent, parse_instant
from escalator.rules.plan import Plan, PlannedComment
from escalator.rules.policy import Unit

BASE = "https://acme.zendesk.com"
FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
AUTH = {"email": "escalator@acme.example", "api_token": "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


SHOW = fixture("api_ticket_show.json")
RAW = SHOW["ticket"]
TICKET_URL = f"{BASE}/api/v2/tickets/{RAW['id']}.json"
COMMENTS_URL = f"{BASE}/api/v2/tickets/{RAW['id']}/comments.json"
GROUPS_1, GROUPS_2 = fixture("api_groups_page1.json"), fixture("api_groups_page2.json")
ALL_GROUPS = {str(group["id"]): group["name"] for group in GROUPS_1["groups"] + GROUPS_2["groups"]}
ME = fixture("api_users_me.json")["user"]
RECENT = fixture("api_ticket_comments.json")

REPLY = PlannedComment(key="r1:reply", body="Hi Dana, a specialist team has your ticket now.", public=True, rule="r1")
NOTE = PlannedComment(key="r1:note", body="Escalated by Escalator: outage tag + enterprise.", public=False, rule="r1")
FINANCE = Unit(id="finance", name="Finance", group="finance", kind="team")  # lower case on purpose


class MemoryLedger:
    """The CommentLedger protocol in memory, keeping the order of every mark."""

    def __init__(self, states: dict[str, str] | None = None) -> None:
        self.states: dict[str, str] = dict(states or {})
        self.marks: list[tuple[str, str]] = []

    def state(self, key: str) -> str | None:
        return self.states.get(key)

    def mark(self, key: str, state: str) -> None:
        self.states[key] = state
        self.marks.append((key, state))


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def vendor() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client() -> ZendeskClient:
    return ZendeskClient(VendorHttp(BASE, auth_headers(AUTH), sleep=SleepRecorder()))


def serve_groups(vendor: responses.RequestsMock) -> None:
    vendor.get(f"{BASE}/api/v2/groups.json", json=GROUPS_1, match=[matchers.query_param_matcher({})])
    vendor.get(GROUPS_1["next_page"], json=GROUPS_2, match=[matchers.query_param_matcher({"page": "2"})])


def serve_ticket(vendor: responses.RequestsMock) -> None:
    vendor.get(TICKET_URL, json=SHOW, match=[matchers.query_param_matcher({"include": "users,organizations"})])


def updated(stamp: str, **changes: Any) -> dict[str, Any]:
    """Zendesk's Update Ticket answer: the whole ticket as it now is, and the audit."""
    ticket = {**copy.deepcopy(RAW), **changes, "updated_at": stamp}
    return {"ticket": ticket, "audit": {"id": 77009001, "ticket_id": RAW["id"], "events": []}}


def puts(vendor: responses.RequestsMock) -> list[dict[str, Any]]:
    """The `ticket` object of every PUT sent, in order."""
    return [
        json.loads(call.request.body)["ticket"]
        for call in vendor.calls
        if call.request.method == "PUT" and call.request.body is not None
    ]


def ticket(**changes: Any) -> Ticket:
    """A ticket as fetched; fields overridable (the ids of the fixture's groups)."""
    base = Ticket(
        id=str(RAW["id"]),
        status="open",
        priority="normal",
        group_id="101",
        group_name="Tier 1",
        tags=("billing", "outage"),
        updated_at=parse_instant(RAW["updated_at"]),
        version=RAW["updated_at"],
    )
    return replace(base, **changes)


# --- reads -------------------------------------------------------------------------------------------------


def test_fetch_ticket_maps_the_ticket_and_its_sideloads(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    serve_ticket(vendor)
    serve_groups(vendor)
    fetched = client.fetch_ticket(str(RAW["id"]))

    requester = next(user for user in SHOW["users"] if user["id"] == RAW["requester_id"])
    organization = SHOW["organizations"][0]
    assert RAW["status"] == "hold" and fetched.status == "on_hold"
    assert RAW["priority"] is None and fetched.priority is None
    assert fetched.id == str(RAW["id"])
    assert fetched.subject == RAW["subject"]
    assert fetched.description == RAW["description"]
    assert fetched.group_id == str(RAW["group_id"])
    assert fetched.group_name == ALL_GROUPS[str(RAW["group_id"])]
    assert fetched.assignee_id == str(RAW["assignee_id"])
    assert fetched.tags == tuple(RAW["tags"])
    assert fetched.channel == RAW["via"]["channel"]
    assert fetched.requester.id == str(requester["id"])
    assert fetched.requester.name == requester["name"]
    assert fetched.requester.email == requester["email"]
    assert fetched.requester.locale == requester["locale"]
    assert fetched.requester.tags == tuple(requester["tags"])
    assert fetched.organization is not None
    assert fetched.organization.id == str(organization["id"])
    assert fetched.organization.name == organization["name"]
    assert fetched.organization.tags == tuple(organization["tags"])
    assert dict(fetched.organization.fields) == organization["organization_fields"]
    assert dict(fetched.custom_fields) == {str(field["id"]): field["value"] for field in RAW["custom_fields"]}
    assert fetched.created_at == parse_instant(RAW["created_at"])
    assert fetched.updated_at == parse_instant(RAW["updated_at"])
    assert fetched.version == RAW["updated_at"]


def test_fetch_ticket_without_group_organization_or_sideloads(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    raw = {**RAW, "group_id": None, "organization_id": None, "status": "NEW", "priority": "URGENT"}
    vendor.get(TICKET_URL, json={"ticket": raw})
    fetched = client.fetch_ticket(str(RAW["id"]))
    assert (fetched.group_id, fetched.group_name, fetched.organization) == (None, None, None)
    assert (fetched.status, fetched.priority) == ("new", "urgent")
    assert fetched.requester.id is None
    assert len(vendor.calls) == 1  # no group lookup for a ticket without a group


def test_groups_follow_next_page_and_are_cached(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    serve_groups(vendor)
    assert client.groups() == ALL_GROUPS
    assert len(vendor.calls) == 2
    assert client.groups() == ALL_GROUPS
    assert len(vendor.calls) == 2  # served from the cache


def test_groups_never_follow_next_page_to_another_host(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    vendor.get(f"{BASE}/api/v2/groups.json", json={**GROUPS_1, "next_page": "https://evil.example/api/v2/groups.json"})
    with pytest.raises(PermanentError, match="another host"):
        client.groups()
    assert [call.request.url for call in vendor.calls] == [f"{BASE}/api/v2/groups.json"]


def test_groups_refresh_reads_again(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    serve_groups(vendor)
    client.groups()
    client.groups(refresh=True)
    assert len(vendor.calls) == 4


@pytest.mark.parametrize(("given", "name"), [("tier 2", "Tier 2"), ("TIER 1", "Tier 1"), ("finance", "Finance")])
def test_group_id_resolves_names_case_insensitively(
    given: str, name: str, vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    serve_groups(vendor)
    resolved = client.group_id(given)
    assert ALL_GROUPS[resolved] == name


@pytest.mark.parametrize("given", [201, "201"])
def test_group_id_accepts_ids(given: str | int, vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    serve_groups(vendor)
    assert client.group_id(given) == str(given)


def test_unknown_group_name_is_permanent_after_a_fresh_look(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    serve_groups(vendor)
    with pytest.raises(PermanentError) as caught:
        client.group_id("Tier 9")
    assert "Tier 9" in str(caught.value)
    # The directory was read again before giving up (a group created a minute ago is found).
    assert [call.request.url for call in vendor.calls].count(f"{BASE}/api/v2/groups.json") == 2


def test_own_user_id_is_read_once(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    vendor.get(f"{BASE}/api/v2/users/me.json", json={"user": ME})
    assert client.own_user_id() == str(ME["id"])
    assert client.own_user_id() == str(ME["id"])
    assert len(vendor.calls) == 1


def test_latest_comment_tells_agents_from_requesters(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    agent_comment = RECENT["comments"][1]
    author = next(user for user in SHOW["users"] if user["id"] == agent_comment["author_id"])
    vendor.get(
        COMMENTS_URL,
        json={"comments": [agent_comment], "users": [author]},
        match=[matchers.query_param_matcher({"sort_order": "desc", "per_page": "1", "include": "users"})],
    )
    comment = client.latest_comment(str(RAW["id"]))
    assert comment is not None
    assert comment.author == "agent"
    assert comment.public is agent_comment["public"]
    assert comment.body == agent_comment["plain_body"]
    assert (comment.author_id, comment.id) == (str(agent_comment["author_id"]), str(agent_comment["id"]))


def test_latest_comment_by_an_end_user_and_none_at_all(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    requester = SHOW["users"][0]
    customer_comment = {**RECENT["comments"][1], "author_id": requester["id"], "public": True}
    vendor.get(COMMENTS_URL, json={"comments": [customer_comment], "users": [requester]})
    vendor.get(COMMENTS_URL, json={"comments": [], "users": []})
    first = client.latest_comment(str(RAW["id"]))
    assert first is not None and first.author == "requester" and first.public is True
    assert client.latest_comment(str(RAW["id"])) is None


# --- writes ------------------------------------------------------------------------------------------------


def test_unit_priority_reply_and_note_take_exactly_two_puts(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    serve_ticket(vendor)
    serve_groups(vendor)
    first_stamp, second_stamp = "2025-03-03T10:30:00Z", "2025-03-03T10:30:01Z"
    seen_at_send: list[dict[str, str]] = []
    answers = iter([updated(first_stamp, group_id=201, priority="urgent"), updated(second_stamp)])

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        seen_at_send.append(dict(ledger.states))  # what the ledger held while the request was in flight
        return 200, {}, json.dumps(next(answers))

    vendor.add_callback(responses.PUT, TICKET_URL, callback=answer)
    ledger = MemoryLedger()
    fetched = client.fetch_ticket(str(RAW["id"]))
    plan = Plan(unit=FINANCE, priority="urgent", comments=[REPLY, NOTE])

    assert client.apply(fetched, plan, ledger) == 2

    first, second = puts(vendor)
    assert first == {
        "group_id": int(next(gid for gid, name in ALL_GROUPS.items() if name == "Finance")),
        "priority": "urgent",
        "comment": {"body": REPLY.body, "public": True},
        "safe_update": True,
        "updated_stamp": RAW["updated_at"],
    }
    assert second == {
        "comment": {"body": NOTE.body, "public": False},
        "safe_update": True,
        "updated_stamp": first_stamp,
    }
    # Each comment is marked "sending" before its PUT and "sent" after it.
    assert seen_at_send == [{REPLY.key: "sending"}, {REPLY.key: "sent", NOTE.key: "sending"}]
    assert ledger.states == {REPLY.key: "sent", NOTE.key: "sent"}


def test_field_only_plan_is_one_put(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    serve_groups(vendor)
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    plan = Plan(unit=Unit(id="t2", name="Tier 2", group="Tier 2", kind="tier"), priority="high")
    assert client.apply(ticket(), plan, MemoryLedger()) == 1
    assert puts(vendor) == [
        {"group_id": 102, "priority": "high", "safe_update": True, "updated_stamp": RAW["updated_at"]}
    ]


def test_tags_and_assignee_are_sent_only_where_they_differ(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    plan = Plan(assignee="901", add_tags=["outage", "escalated"], remove_tags=["billing", "never-there"])
    assert client.apply(ticket(), plan, MemoryLedger()) == 1
    (sent,) = puts(vendor)
    assert sent["assignee_id"] == 901
    assert sent["additional_tags"] == ["escalated"]
    assert sent["remove_tags"] == ["billing"]


def test_assignee_by_email(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    client.apply(ticket(), Plan(assignee="alex@acme.example"), MemoryLedger())
    (sent,) = puts(vendor)
    assert sent["assignee_email"] == "alex@acme.example"
    assert "assignee_id" not in sent


def test_owners_are_added_as_followers_by_id_or_email_unless_already_following(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    plan = Plan(followers=["901", "am@acme.example", "902"])
    assert client.apply(ticket(followers=("902",)), plan, MemoryLedger()) == 1
    (sent,) = puts(vendor)
    assert sent["followers"] == [
        {"user_id": 901, "action": "put"},
        {"user_email": "am@acme.example", "action": "put"},
    ]


def test_plan_that_matches_the_ticket_writes_nothing(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    serve_groups(vendor)
    current = ticket(group_id="102", group_name="Tier 2", priority="high", assignee_id="901")
    plan = Plan(
        unit=Unit(id="t2", name="Tier 2", group="tier 2", kind="tier"),
        priority="high",
        assignee="901",
        add_tags=["outage"],
        remove_tags=["web"],
    )
    assert client.apply(current, plan, MemoryLedger()) == 0
    assert puts(vendor) == []
    assert all(call.request.method == "GET" for call in vendor.calls)


def test_empty_plan_makes_no_calls(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    assert client.apply(ticket(), Plan(), MemoryLedger()) == 0
    assert len(vendor.calls) == 0


def test_ticket_without_a_version_is_updated_without_safe_update(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    client.apply(ticket(version=None, updated_at=None), Plan(priority="low"), MemoryLedger())
    assert puts(vendor) == [{"priority": "low"}]


def test_sent_comments_are_skipped(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    ledger = MemoryLedger({REPLY.key: "sent"})
    assert client.apply(ticket(), Plan(priority="high", comments=[REPLY, NOTE]), ledger) == 1
    assert puts(vendor) == [
        {
            "priority": "high",
            "comment": {"body": NOTE.body, "public": False},
            "safe_update": True,
            "updated_stamp": RAW["updated_at"],
        }
    ]
    assert ledger.marks == [(NOTE.key, "sending"), (NOTE.key, "sent")]


def test_all_comments_sent_and_nothing_else_to_do_writes_nothing(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    ledger = MemoryLedger({REPLY.key: "sent", NOTE.key: "sent"})
    assert client.apply(ticket(), Plan(comments=[REPLY, NOTE]), ledger) == 0
    assert len(vendor.calls) == 0


def serve_recent_comments(vendor: responses.RequestsMock) -> None:
    vendor.get(f"{BASE}/api/v2/users/me.json", json={"user": ME})
    vendor.get(
        COMMENTS_URL, json=RECENT, match=[matchers.query_param_matcher({"sort_order": "desc", "per_page": "20"})]
    )


def test_sending_comment_found_on_the_ticket_is_marked_sent_not_resent(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    serve_recent_comments(vendor)
    ours = RECENT["comments"][0]
    assert str(ours["author_id"]) == str(ME["id"])
    # Same words, different spacing: what we sent may come back with its whitespace normalised.
    reply = PlannedComment(key="r1:reply", body=" ".join(ours["plain_body"].split()), public=True, rule="r1")
    ledger = MemoryLedger({reply.key: "sending"})
    assert client.apply(ticket(), Plan(comments=[reply]), ledger) == 0
    assert puts(vendor) == []
    assert ledger.states == {reply.key: "sent"}


def test_sending_comment_not_on_the_ticket_is_sent_again(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    serve_recent_comments(vendor)
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    ledger = MemoryLedger({REPLY.key: "sending"})
    assert client.apply(ticket(), Plan(comments=[REPLY]), ledger) == 1
    assert [sent["comment"] for sent in puts(vendor)] == [{"body": REPLY.body, "public": True}]
    assert ledger.states == {REPLY.key: "sent"}


def test_same_text_by_someone_else_does_not_count_as_ours(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    serve_recent_comments(vendor)
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    theirs = RECENT["comments"][1]
    assert str(theirs["author_id"]) != str(ME["id"])
    note = PlannedComment(key="r2:note", body=theirs["body"], public=False, rule="r2")
    ledger = MemoryLedger({note.key: "sending"})
    assert client.apply(ticket(), Plan(comments=[note]), ledger) == 1
    assert [sent["comment"]["body"] for sent in puts(vendor)] == [note.body]


def test_recent_comments_are_read_once_for_several_sending_comments(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    serve_recent_comments(vendor)
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:01Z"))
    ledger = MemoryLedger({REPLY.key: "sending", NOTE.key: "sending"})
    assert client.apply(ticket(), Plan(comments=[REPLY, NOTE]), ledger) == 2
    assert sum(call.request.url.startswith(COMMENTS_URL) for call in vendor.calls) == 1


def test_conflict_leaves_the_comment_unconfirmed(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    vendor.put(TICKET_URL, status=409, json={"error": "UpdateConflict", "description": "outdated ticket data"})
    ledger = MemoryLedger()
    with pytest.raises(ConflictError):
        client.apply(ticket(), Plan(priority="high", comments=[REPLY, NOTE]), ledger)
    assert len(puts(vendor)) == 1
    assert ledger.state(REPLY.key) == "sending"  # checked against the ticket before any resend
    assert ledger.state(NOTE.key) is None


def test_comment_put_without_an_answer_is_not_repeated(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    vendor.put(TICKET_URL, status=502)
    ledger = MemoryLedger()
    with pytest.raises(TransientError) as caught:
        client.apply(ticket(), Plan(comments=[REPLY]), ledger)
    assert caught.value.maybe_applied is True
    assert len(puts(vendor)) == 1
    assert ledger.state(REPLY.key) == "sending"


def test_field_only_put_is_retried_after_a_5xx(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    vendor.put(TICKET_URL, status=502)
    vendor.put(TICKET_URL, json=updated("2025-03-03T10:30:00Z"))
    assert client.apply(ticket(), Plan(priority="urgent"), MemoryLedger()) == 1
    first, again = puts(vendor)
    assert first == again  # same safe_update stamp: a landed first try makes the repeat a 409


def test_unknown_group_in_the_plan_writes_nothing(vendor: responses.RequestsMock, client: ZendeskClient) -> None:
    serve_groups(vendor)
    plan = Plan(unit=Unit(id="t9", name="Tier 9", group="Tier 9", kind="tier"), comments=[REPLY])
    ledger = MemoryLedger()
    with pytest.raises(PermanentError):
        client.apply(ticket(), plan, ledger)
    assert puts(vendor) == []
    assert ledger.marks == []


# --- auth --------------------------------------------------------------------------------------------------


def basic_credentials(header: str) -> str:
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(encoded).decode()


def test_api_token_auth_is_basic_email_slash_token() -> None:
    headers = auth_headers(AUTH)
    assert basic_credentials(headers["Authorization"]) == f"{AUTH['email']}/token:{AUTH['api_token']}"


def test_oauth_auth_is_a_bearer_token() -> None:
    assert auth_headers({"oauth_token": "oauth-abc"}) == {"Authorization": "Bearer oauth-abc"}


def test_auth_headers_reach_zendesk(vendor: responses.RequestsMock) -> None:
    vendor.get(f"{BASE}/api/v2/users/me.json", json={"user": ME})
    ZendeskClient(VendorHttp(BASE, auth_headers(AUTH), sleep=SleepRecorder())).own_user_id()
    sent = vendor.calls[0].request.headers["Authorization"]
    assert basic_credentials(sent) == f"{AUTH['email']}/token:{AUTH['api_token']}"


@pytest.mark.parametrize(
    "auth",
    [{}, {"email": "escalator@acme.example"}, {"api_token": "t"}, {"oauth_token": ""}, {"email": "", "api_token": "t"}],
)
def test_auth_without_usable_credentials_is_a_value_error(auth: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="api_token"):
        auth_headers(auth)


# --- deciding from the event's own snapshot ------------------------------------------------------------


def created_event(**detail_changes: Any) -> TicketEvent:
    inbound = parse_event(json.dumps(fixture("ticket_created.json")).encode(), {})
    assert inbound.event is not None
    event = inbound.event
    return replace(event, snapshot={**(event.snapshot or {}), **detail_changes})


def serve_people(vendor: responses.RequestsMock) -> None:
    vendor.get(f"{BASE}/api/v2/users/11001.json", json={"user": SHOW["users"][0]})
    vendor.get(f"{BASE}/api/v2/organizations/30001.json", json={"organization": SHOW["organizations"][0]})


def test_ticket_for_builds_the_ticket_from_the_snapshot_and_caches_people(
    vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    serve_groups(vendor)
    serve_people(vendor)
    event = created_event()
    ticket = client.ticket_for("4211", [event], fields={"text", "organization.tags"}, read_back=False)
    assert (ticket.id, ticket.subject, ticket.status, ticket.priority) == (
        "4211",
        "Invoices page is down",
        "new",
        "normal",
    )
    assert ticket.group_id == "101" and ticket.group_name == ALL_GROUPS["101"]
    assert ticket.requester.email == SHOW["users"][0]["email"]
    assert ticket.organization is not None and ticket.organization.tags == tuple(SHOW["organizations"][0]["tags"])
    assert ticket.version == "2025-03-03T09:14:07Z", "the snapshot's updated_at guards the write (safe_update)"
    client.ticket_for("4211", [event], fields=set(), read_back=False)
    paths = [call.request.path_url for call in vendor.calls]
    assert paths.count("/api/v2/users/11001.json") == 1 and "/api/v2/tickets/4211.json" not in " ".join(paths)


@pytest.mark.parametrize(
    ("fields", "read_back", "without_snapshot"),
    [({"custom_fields.360001"}, False, False), (set(), True, False), (set(), False, True)],
)
def test_ticket_for_reads_back_when_the_snapshot_cannot_be_trusted(
    fields: set[str], read_back: bool, without_snapshot: bool, vendor: responses.RequestsMock, client: ZendeskClient
) -> None:
    serve_groups(vendor)
    vendor.get(f"{BASE}/api/v2/tickets/4211.json", json={**SHOW, "ticket": {**RAW, "id": 4211}})
    event = replace(created_event(), snapshot=None) if without_snapshot else created_event()
    ticket = client.ticket_for("4211", [event], fields=fields, read_back=read_back)
    assert ticket.custom_fields == {str(item["id"]): item.get("value") for item in RAW.get("custom_fields") or []}
    assert any(call.request.path_url.startswith("/api/v2/tickets/4211.json") for call in vendor.calls)
