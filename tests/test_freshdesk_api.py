"""FreshdeskClient against Freshdesk's REST shapes (served by `responses`): reading tickets, contacts and
companies back, resolving groups and agents, and writing a plan in one PUT plus one call per comment, with
the conflict check Freshdesk lacks and without ever sending a comment twice."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from escalator.connectors.base import Services, TenantSettings
from escalator.connectors.errors import ConflictError, PermanentError, RateLimited, TransientError
from escalator.connectors.freshdesk import FRESHDESK_LIMITS, FreshdeskConnector, read_rate_limits
from escalator.connectors.freshdesk.api import PER_PAGE, FreshdeskClient, auth_headers, plain_text, to_html
from escalator.connectors.http import VendorHttp
from escalator.connectors.ratelimit import REQUESTS, TICKET_UPDATES, Observation
from escalator.rules.model import Ticket, parse_instant
from escalator.rules.plan import Plan, PlannedComment
from escalator.rules.policy import Unit

BASE = "https://globex.freshdesk.com"
FIXTURES = Path(__file__).parent / "fixtures" / "freshdesk"
API_KEY = "Pm3kQz8ruXh4LT1vVbAc"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


RAW = fixture("api_ticket_show.json")
CONTACT = fixture("api_contact.json")
COMPANY = fixture("api_company.json")
GROUPS = fixture("api_groups.json")
ME = fixture("api_agents_me.json")
CONVERSATIONS = fixture("api_conversations.json")
TICKET_URL = f"{BASE}/api/v2/tickets/{RAW['id']}"
CONVERSATIONS_URL = f"{TICKET_URL}/conversations"
GROUP_NAMES = {str(group["id"]): group["name"] for group in GROUPS}
OWN = str(ME["id"])

REPLY = PlannedComment(key="r1:reply", body="Hi Dana, our specialists have your ticket now.", public=True, rule="r1")
NOTE = PlannedComment(key="r1:note", body='Escalated: matched "outage".\nCustomer: Dana <d@x>', public=False, rule="r1")
TIER_2 = Unit(id="L2", name="Technical Specialists", group="tier 2", kind="tier")  # lower case on purpose


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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def vendor() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(clock: Clock) -> FreshdeskClient:
    http = VendorHttp(BASE, auth_headers({"api_key": API_KEY}), sleep=lambda _seconds: None)
    return FreshdeskClient(http, statuses={"6": "pending", "7": "on_hold"}, clock=clock)


def serve_reads(vendor: responses.RequestsMock, raw: dict[str, Any] | None = None) -> None:
    vendor.get(TICKET_URL, json=raw or RAW)
    vendor.get(f"{BASE}/api/v2/contacts/{CONTACT['id']}", json=CONTACT)
    vendor.get(f"{BASE}/api/v2/companies/{COMPANY['id']}", json=COMPANY)
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)


def current(**changes: Any) -> Ticket:
    """The fixture ticket as the client reads it, with changes."""
    ticket = Ticket(
        id=str(RAW["id"]),
        status="pending",
        priority="high",
        group_id=str(RAW["group_id"]),
        group_name="Tier 1",
        tags=tuple(RAW["tags"]),
        version=RAW["updated_at"],
    )
    return replace(ticket, **changes)


def sent(call: Any) -> Any:
    return json.loads(call.request.body)


# --- authentication and reads ------------------------------------------------------------------------------


def test_every_call_authenticates_with_the_api_key_and_x(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    expected = "Basic " + base64.b64encode(f"{API_KEY}:X".encode()).decode()
    vendor.get(f"{BASE}/api/v2/agents/me", json=ME, match=[matchers.header_matcher({"Authorization": expected})])
    assert client.own_user_id() == OWN


def test_auth_needs_an_api_key() -> None:
    with pytest.raises(ValueError):
        auth_headers({"email": "a@b.example"})


def test_own_user_id_is_read_once(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    vendor.get(f"{BASE}/api/v2/agents/me", json=ME)
    assert client.own_user_id() == client.own_user_id() == OWN
    assert len(vendor.calls) == 1


def test_fetch_ticket_maps_every_field(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    serve_reads(vendor)
    ticket = client.fetch_ticket(str(RAW["id"]))
    assert ticket.id == str(RAW["id"]) and ticket.subject == RAW["subject"]
    assert ticket.description == RAW["description_text"]
    assert ticket.status == "pending", "custom status 6 through the tenant's mapping"
    assert ticket.priority == "high"
    assert (ticket.group_id, ticket.group_name) == (str(RAW["group_id"]), GROUP_NAMES[str(RAW["group_id"])])
    assert ticket.assignee_id == str(RAW["responder_id"])
    assert ticket.tags == tuple(RAW["tags"]) and ticket.channel == "web"
    assert ticket.custom_fields == RAW["custom_fields"]
    assert ticket.created_at == parse_instant(RAW["created_at"]) and ticket.updated_at == parse_instant(
        RAW["updated_at"]
    )
    assert ticket.version == RAW["updated_at"]
    person = ticket.requester
    assert (person.id, person.name, person.email) == (str(CONTACT["id"]), CONTACT["name"], CONTACT["email"])
    assert person.locale == CONTACT["language"] and person.tags == tuple(CONTACT["tags"])
    organization = ticket.organization
    assert organization is not None
    assert (organization.id, organization.name) == (str(COMPANY["id"]), COMPANY["name"])
    assert organization.fields["account_tier"] == COMPANY["account_tier"]
    assert organization.fields["health_score"] == COMPANY["health_score"]
    assert organization.fields["arr_band"] == COMPANY["custom_fields"]["arr_band"]
    assert "industry" in organization.fields and organization.tags == ()
    # One credit per call: no `include`, whose embedded requester/company lack language and custom fields.
    assert all("include" not in str(call.request.url) for call in vendor.calls)


def test_description_falls_back_to_the_html_as_text(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    serve_reads(vendor, {**RAW, "description_text": None})
    assert client.fetch_ticket(str(RAW["id"])).description == RAW["description_text"]


def test_contacts_companies_and_groups_are_cached_for_a_while(
    vendor: responses.RequestsMock, client: FreshdeskClient, clock: Clock
) -> None:
    serve_reads(vendor)
    client.fetch_ticket(str(RAW["id"]))
    client.fetch_ticket(str(RAW["id"]))
    paths = [call.request.path_url.split("?")[0] for call in vendor.calls]
    assert paths.count(f"/api/v2/tickets/{RAW['id']}") == 2
    assert paths.count(f"/api/v2/contacts/{CONTACT['id']}") == 1
    assert paths.count(f"/api/v2/companies/{COMPANY['id']}") == 1
    assert paths.count("/api/v2/groups") == 1
    clock.now += 301
    client.fetch_ticket(str(RAW["id"]))
    paths = [call.request.path_url.split("?")[0] for call in vendor.calls]
    assert paths.count(f"/api/v2/contacts/{CONTACT['id']}") == 2 and paths.count("/api/v2/groups") == 2


def test_a_deleted_requester_or_company_does_not_fail_the_ticket(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(TICKET_URL, json=RAW)
    vendor.get(f"{BASE}/api/v2/contacts/{CONTACT['id']}", status=404)
    vendor.get(f"{BASE}/api/v2/companies/{COMPANY['id']}", status=404)
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    ticket = client.fetch_ticket(str(RAW["id"]))
    assert ticket.requester.id == str(CONTACT["id"]) and ticket.requester.name == ""
    assert ticket.organization is None


def test_a_ticket_without_company_group_or_agent(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    raw = {**RAW, "company_id": None, "group_id": None, "responder_id": None, "status": 2, "priority": 1}
    vendor.get(TICKET_URL, json=raw)
    vendor.get(f"{BASE}/api/v2/contacts/{CONTACT['id']}", json=CONTACT)
    ticket = client.fetch_ticket(str(RAW["id"]))
    assert ticket.organization is None and ticket.group_id is None and ticket.group_name is None
    assert ticket.assignee_id is None and ticket.status == "open" and ticket.priority == "low"


def test_a_missing_ticket_is_a_permanent_error_naming_the_ticket(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(TICKET_URL, status=404)
    with pytest.raises(PermanentError) as failed:
        client.fetch_ticket(str(RAW["id"]))
    assert failed.value.status == 404 and "ticket" in str(failed.value).lower()


def test_groups_are_paged_until_a_short_page(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    many = [{"id": 1000 + i, "name": f"Group {i}"} for i in range(PER_PAGE)]
    vendor.get(
        f"{BASE}/api/v2/groups", json=many, match=[matchers.query_param_matcher({"page": "1", "per_page": "100"})]
    )
    vendor.get(
        f"{BASE}/api/v2/groups", json=GROUPS, match=[matchers.query_param_matcher({"page": "2", "per_page": "100"})]
    )
    groups = client.groups()
    assert len(groups) == PER_PAGE + len(GROUPS) and groups[str(GROUPS[0]["id"])] == "Tier 1"


def test_group_names_resolve_case_insensitively_and_ids_pass(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    assert client.group_id("finance") == str(GROUPS[3]["id"])
    assert client.group_id(GROUPS[1]["id"]) == str(GROUPS[1]["id"])


def test_an_unknown_group_is_looked_up_again_then_named_in_the_error(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    with pytest.raises(PermanentError) as failed:
        client.group_id("Legal")
    assert "no group named 'Legal'" in str(failed.value)
    assert len(vendor.calls) == 2, "the directory is refreshed once before giving up"


def test_latest_comment_is_the_newest_conversation(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    vendor.get(CONVERSATIONS_URL, json=CONVERSATIONS)
    comment = client.latest_comment(str(RAW["id"]))
    newest = CONVERSATIONS[-1]
    assert comment is not None
    assert comment.body == newest["body_text"] and comment.public is True
    assert comment.author == "requester" and comment.author_id == str(newest["user_id"])
    assert comment.id == str(newest["id"])


def test_a_private_note_by_our_agent_is_an_agent_comment_that_is_not_public(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(CONVERSATIONS_URL, json=CONVERSATIONS[:2])
    comment = client.latest_comment(str(RAW["id"]))
    assert comment is not None
    assert (comment.public, comment.author, comment.author_id) == (False, "agent", OWN)


def test_a_comment_without_text_is_read_from_its_html(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    vendor.get(CONVERSATIONS_URL, json=[{**CONVERSATIONS[-1], "body_text": None}])
    comment = client.latest_comment(str(RAW["id"]))
    assert comment is not None and comment.body == CONVERSATIONS[-1]["body_text"]


def test_no_conversation_yet_means_no_comment(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    vendor.get(CONVERSATIONS_URL, json=[])
    assert client.latest_comment(str(RAW["id"])) is None


def test_the_latest_comment_of_a_long_ticket_is_on_the_last_page(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    first = [{**CONVERSATIONS[0], "id": i} for i in range(PER_PAGE)]
    vendor.get(CONVERSATIONS_URL, json=first, match=[matchers.query_param_matcher({"page": "1", "per_page": "100"})])
    vendor.get(
        CONVERSATIONS_URL,
        json=CONVERSATIONS[2:],
        match=[matchers.query_param_matcher({"page": "2", "per_page": "100"})],
    )
    comment = client.latest_comment(str(RAW["id"]))
    assert comment is not None and comment.id == str(CONVERSATIONS[2]["id"])


# --- writes ------------------------------------------------------------------------------------------------


def test_fields_go_in_one_put_after_checking_the_ticket_is_unchanged(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    vendor.get(TICKET_URL, json=RAW)
    put = vendor.put(TICKET_URL, json={**RAW, "group_id": GROUPS[1]["id"], "priority": 4})
    ledger = MemoryLedger()
    calls = client.apply(current(), Plan(unit=TIER_2, priority="urgent"), ledger)
    assert calls == 1
    assert sent(put.calls[0]) == {"group_id": GROUPS[1]["id"], "priority": 4}
    methods = [call.request.method for call in vendor.calls if "/tickets/" in str(call.request.url)]
    assert methods == ["GET", "PUT"], "the conflict check comes right before the write"
    assert ledger.marks == []


def test_a_ticket_changed_since_it_was_read_is_a_conflict_and_nothing_is_written(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    vendor.get(TICKET_URL, json={**RAW, "updated_at": "2026-03-09T15:10:41Z"})
    with pytest.raises(ConflictError) as conflict:
        client.apply(current(), Plan(unit=TIER_2, comments=[REPLY]), MemoryLedger())
    assert conflict.value.status == 409 and "changed since it was read" in str(conflict.value)
    assert [call.request.method for call in vendor.calls].count("POST") == 0


def test_the_same_instant_in_another_notation_is_no_conflict(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    vendor.get(TICKET_URL, json={**RAW, "updated_at": "2026-03-09T15:10:40.000+00:00"})
    vendor.put(TICKET_URL, json=RAW)
    assert client.apply(current(), Plan(unit=TIER_2), MemoryLedger()) == 1


def test_without_a_version_there_is_nothing_to_compare(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    put = vendor.put(TICKET_URL, json=RAW)
    assert client.apply(current(version=None), Plan(priority="urgent"), MemoryLedger()) == 1
    assert sent(put.calls[0]) == {"priority": 4} and len(vendor.calls) == 1


def test_tags_are_sent_as_the_merged_list_because_put_replaces_them(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(TICKET_URL, json=RAW)
    put = vendor.put(TICKET_URL, json=RAW)
    plan = Plan(add_tags=["escalated", "sso"], remove_tags=["finance-team", "absent"])
    client.apply(current(), plan, MemoryLedger())
    assert sent(put.calls[0]) == {"tags": ["sso", "escalated"]}


def test_only_what_differs_is_written_and_a_plan_already_in_place_costs_nothing(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    plan = Plan(unit=replace(TIER_2, group="Tier 1"), priority="high", add_tags=["sso"], remove_tags=["nope"])
    assert client.apply(current(), plan, MemoryLedger()) == 0
    assert all(call.request.method == "GET" for call in vendor.calls)


def test_assign_by_agent_email_is_looked_up_once(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    lookup = vendor.get(
        f"{BASE}/api/v2/agents",
        json=[{"id": 43000187599}],
        match=[matchers.query_param_matcher({"email": "kim@x.example"})],
    )
    vendor.get(TICKET_URL, json=RAW)
    put = vendor.put(TICKET_URL, json=RAW)
    client.apply(current(), Plan(assignee="kim@x.example"), MemoryLedger())
    assert sent(put.calls[0]) == {"responder_id": 43000187599}
    assert client.agent_id("KIM@x.example".lower()) == "43000187599" and len(lookup.calls) == 1


def test_assign_by_id_needs_no_lookup(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    assert client.agent_id("43000187599") == "43000187599" and len(vendor.calls) == 0
    assert client.apply(current(assignee_id="43000187599"), Plan(assignee="43000187599"), MemoryLedger()) == 0


def test_assign_to_an_unknown_email_is_a_clear_error(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    vendor.get(f"{BASE}/api/v2/agents", json=[])
    with pytest.raises(PermanentError, match=r"no agent with email 'ghost@x\.example'"):
        client.apply(current(), Plan(assignee="ghost@x.example"), MemoryLedger())


def test_a_reply_and_a_note_are_one_call_each_guarded_by_the_ledger(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    reply = vendor.post(f"{TICKET_URL}/reply", json=CONVERSATIONS[0], status=201)
    note = vendor.post(f"{TICKET_URL}/notes", json=CONVERSATIONS[1], status=201)
    ledger = MemoryLedger()
    assert client.apply(current(), Plan(comments=[REPLY, NOTE]), ledger) == 2
    assert sent(reply.calls[0]) == {"body": to_html(REPLY.body)}
    assert sent(note.calls[0]) == {"body": to_html(NOTE.body), "private": True}
    assert ledger.marks == [
        (REPLY.key, "sending"),
        (REPLY.key, "sent"),
        (NOTE.key, "sending"),
        (NOTE.key, "sent"),
    ]


def test_owners_are_mailed_with_the_first_internal_note_once(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/agents/901", json={"id": 901, "contact": {"email": "alex@acme.example"}})
    note = vendor.post(f"{TICKET_URL}/notes", json=CONVERSATIONS[1], status=201)
    vendor.post(f"{TICKET_URL}/reply", json=CONVERSATIONS[0], status=201)
    ledger = MemoryLedger()
    plan = Plan(comments=[REPLY, NOTE], followers=["901", "am@acme.example"])
    assert client.apply(current(), plan, ledger) == 2
    assert sent(note.calls[0])["notify_emails"] == ["alex@acme.example", "am@acme.example"]
    assert ledger.states["owners:alex@acme.example,am@acme.example"] == "sent"
    assert client.apply(current(), plan, ledger) == 0, "a retried plan neither notes nor mails again"


def test_owners_without_an_internal_note_get_a_short_one_of_their_own(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/agents/77", status=404)  # an agent deleted since: skipped, not an error
    note = vendor.post(f"{TICKET_URL}/notes", json=CONVERSATIONS[1], status=201)
    assert client.apply(current(), Plan(followers=["77", "am@acme.example"]), MemoryLedger()) == 1
    body = sent(note.calls[0])
    assert body["notify_emails"] == ["am@acme.example"] and body["private"] is True
    assert "am@acme.example" in body["body"] and "owner" in body["body"]


def test_a_whole_escalation_is_one_put_and_two_posts_in_plan_order(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    vendor.get(TICKET_URL, json=RAW)
    vendor.put(TICKET_URL, json=RAW)
    vendor.post(f"{TICKET_URL}/notes", json=CONVERSATIONS[1], status=201)
    vendor.post(f"{TICKET_URL}/reply", json=CONVERSATIONS[0], status=201)
    assert client.apply(current(), Plan(unit=TIER_2, priority="urgent", comments=[NOTE, REPLY]), MemoryLedger()) == 3
    writes = [(call.request.method, call.request.path_url) for call in vendor.calls if call.request.method != "GET"]
    assert writes == [
        ("PUT", f"/api/v2/tickets/{RAW['id']}"),
        ("POST", f"/api/v2/tickets/{RAW['id']}/notes"),
        ("POST", f"/api/v2/tickets/{RAW['id']}/reply"),
    ]


def test_a_sent_comment_is_never_sent_again(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    note = vendor.post(f"{TICKET_URL}/notes", json=CONVERSATIONS[1], status=201)
    assert client.apply(current(), Plan(comments=[REPLY, NOTE]), MemoryLedger({REPLY.key: "sent"})) == 1
    assert len(note.calls) == 1 and len(vendor.calls) == 1


def test_an_unanswered_reply_found_among_our_conversations_is_not_sent_again(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    landed = {**CONVERSATIONS[0], "body": to_html(REPLY.body), "body_text": None, "user_id": int(OWN)}
    vendor.get(CONVERSATIONS_URL, json=[*CONVERSATIONS, landed])
    vendor.get(f"{BASE}/api/v2/agents/me", json=ME)
    note = vendor.post(f"{TICKET_URL}/notes", json=CONVERSATIONS[1], status=201)
    ledger = MemoryLedger({REPLY.key: "sending"})
    assert client.apply(current(), Plan(comments=[REPLY, NOTE]), ledger) == 1
    assert ledger.states == {REPLY.key: "sent", NOTE.key: "sent"} and len(note.calls) == 1
    assert not [call for call in vendor.calls if str(call.request.url).endswith("/reply")]


def test_the_same_text_by_someone_else_does_not_count_as_ours(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    by_agent = {**CONVERSATIONS[0], "body_text": REPLY.body, "user_id": 43000187512}
    vendor.get(CONVERSATIONS_URL, json=[by_agent])
    vendor.get(f"{BASE}/api/v2/agents/me", json=ME)
    reply = vendor.post(f"{TICKET_URL}/reply", json=CONVERSATIONS[0], status=201)
    assert client.apply(current(), Plan(comments=[REPLY]), MemoryLedger({REPLY.key: "sending"})) == 1
    assert len(reply.calls) == 1


def test_a_reply_whose_send_may_have_landed_stays_sending_for_the_next_attempt(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.post(f"{TICKET_URL}/reply", body=requests.ConnectionError("connection reset by peer"))
    ledger = MemoryLedger()
    with pytest.raises(TransientError) as failed:
        client.apply(current(), Plan(comments=[REPLY]), ledger)
    assert failed.value.maybe_applied is True
    assert ledger.states == {REPLY.key: "sending"}
    assert len(vendor.calls) == 1, "a comment POST is never retried blindly"


def test_a_put_that_fails_with_5xx_is_retried_because_it_is_idempotent(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.put(TICKET_URL, status=502)
    vendor.put(TICKET_URL, json=RAW)
    assert client.apply(current(version=None), Plan(priority="urgent"), MemoryLedger()) == 1
    assert [call.request.method for call in vendor.calls] == ["PUT", "PUT"]


def test_freshdesk_validation_errors_are_surfaced_with_field_message_and_code(
    vendor: responses.RequestsMock, client: FreshdeskClient
) -> None:
    vendor.get(f"{BASE}/api/v2/groups", json=GROUPS)
    vendor.get(TICKET_URL, json=RAW)
    vendor.put(TICKET_URL, json=fixture("api_error_400.json"), status=400)
    with pytest.raises(PermanentError) as failed:
        client.apply(current(), Plan(unit=TIER_2), MemoryLedger())
    message = str(failed.value)
    assert failed.value.status == 400
    assert "Validation failed" in message and "group_id: There is no group matching" in message
    assert "(invalid_value)" in message


def test_a_long_rate_limit_goes_back_to_the_queue(vendor: responses.RequestsMock, client: FreshdeskClient) -> None:
    vendor.post(f"{TICKET_URL}/notes", status=429, headers={"Retry-After": "60"})
    ledger = MemoryLedger()
    with pytest.raises(RateLimited) as limited:
        client.apply(current(), Plan(comments=[NOTE]), ledger)
    assert limited.value.retry_after == 60
    assert ledger.states == {NOTE.key: "sending"}, "a 429 did not land, but 'sending' only costs a look next time"


# --- bodies and the connector ------------------------------------------------------------------------------


def test_comment_bodies_are_html_with_line_breaks_and_read_back_as_the_same_text() -> None:
    markup = to_html(NOTE.body)
    assert markup == '<div>Escalated: matched "outage".<br>Customer: Dana &lt;d@x&gt;</div>'
    assert plain_text(markup) == NOTE.body


def test_plain_text_of_freshdesk_html() -> None:
    assert plain_text(RAW["description"]) == RAW["description_text"]
    assert plain_text("<p>a</p><p>b &amp; c</p>") == "a\nb & c"


def test_the_connector_builds_a_client_for_the_tenant() -> None:
    settings = TenantSettings(
        "globex", BASE + "/", {"api_key": API_KEY}, "", {"freshdesk": {"statuses": {"6": "on_hold"}}}
    )
    client = FreshdeskConnector().client(settings, Services())
    assert client.http.base_url == BASE and client.statuses == {"6": "on_hold"}
    assert client.http.limits is FRESHDESK_LIMITS


@pytest.mark.parametrize(
    ("method", "path", "buckets"),
    [
        ("PUT", "/api/v2/tickets/4821", (REQUESTS, TICKET_UPDATES)),
        ("POST", "/api/v2/tickets/bulk_update", (REQUESTS, TICKET_UPDATES)),
        ("POST", "/api/v2/tickets/4821/notes", (REQUESTS,)),
        ("POST", "/api/v2/tickets/4821/reply", (REQUESTS,)),
        ("GET", "/api/v2/tickets/4821", (REQUESTS,)),
    ],
)
def test_ticket_updates_draw_on_their_own_budget_notes_and_replies_do_not(
    method: str, path: str, buckets: tuple[str, ...]
) -> None:
    assert FRESHDESK_LIMITS.classify(method, path) == buckets


def test_freshdesks_rate_limit_headers_are_read() -> None:
    headers = requests.structures.CaseInsensitiveDict(
        {"X-RateLimit-Total": "400", "X-RateLimit-Remaining": "17", "X-RateLimit-Used-CurrentRequest": "1"}
    )
    assert read_rate_limits(headers) == [Observation(REQUESTS, 17.0)]
    assert read_rate_limits(requests.structures.CaseInsensitiveDict({})) == []
