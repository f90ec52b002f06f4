"""The fake Freshdesk behaves like Freshdesk where the pipeline tests rely on it: authentication, validation
errors in Freshdesk's shape, `include`, paging, conversations moving `updated_at`, and automation rules that
fire once per save with the first matched event, rendered as Freshdesk renders placeholders."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from escalator.connectors.errors import PermanentError
from escalator.connectors.freshdesk.api import FreshdeskClient, auth_headers
from escalator.connectors.freshdesk.webhook import SECRET_HEADER, parse_event, verify_request
from escalator.connectors.http import VendorHttp
from escalator.fakedesk.freshdesk import HUMAN_AGENT_ID, OWN_AGENT_ID, FakeFreshdesk
from escalator.rules.plan import Plan
from escalator.rules.policy import Unit

KEY = "fake-key"


@pytest.fixture
def desk() -> Iterator[FakeFreshdesk]:
    fake = FakeFreshdesk(api_key=KEY, webhook_url="http://unused.invalid/", webhook_secret="s3")
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def client(desk: FakeFreshdesk) -> FreshdeskClient:
    return FreshdeskClient(VendorHttp(desk.base_url, auth_headers({"api_key": KEY}), sleep=lambda _s: None))


def test_a_wrong_api_key_is_401(desk: FakeFreshdesk) -> None:
    wrong = FreshdeskClient(VendorHttp(desk.base_url, auth_headers({"api_key": "nope"})))
    with pytest.raises(PermanentError) as failed:
        wrong.own_user_id()
    assert failed.value.status == 401
    assert requests.get(f"{desk.base_url}/api/v2/agents/me", timeout=5).status_code == 401


def test_the_client_reads_what_the_fake_serves(desk: FakeFreshdesk, client: FreshdeskClient) -> None:
    company = desk.add_company("Initech", account_tier="Premium", custom_fields={"region": "EMEA"})
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example", language="es", company_id=company, tags=["vip"])
    ticket_id = str(desk.create_ticket("Help", "Body <b>bold</b>", contact, priority="high", status=6)["id"])
    ticket = client.fetch_ticket(ticket_id)
    assert (ticket.description, ticket.priority, ticket.status, ticket.group_name) == (
        "Body <b>bold</b>",
        "high",
        "open",
        "Tier 1",
    )
    assert ticket.requester.locale == "es" and ticket.requester.tags == ("vip",)
    assert ticket.organization is not None and dict(ticket.organization.fields) == {
        "account_tier": "Premium",
        "region": "EMEA",
    }
    assert client.own_user_id() == str(OWN_AGENT_ID)


def test_invalid_writes_get_freshdesks_validation_errors(desk: FakeFreshdesk, client: FreshdeskClient) -> None:
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example")
    ticket = client.fetch_ticket(str(desk.create_ticket("Help", "Body", contact)["id"]))
    client.groups()
    del desk.groups[102]  # the group is deleted after Escalator cached the directory
    with pytest.raises(PermanentError) as failed:
        client.apply(ticket, Plan(unit=Unit(id="L2", name="Specialists", group="Tier 2", kind="tier")), _Ledger())
    assert failed.value.status == 400
    assert "group_id: There is no group matching the given group_id (invalid_value)" in str(failed.value)
    answer = requests.put(
        f"{desk.base_url}/api/v2/tickets/{ticket.id}",
        json={"priority": 9, "tags": "a,b", "colour": "red"},
        headers=auth_headers({"api_key": KEY}),
        timeout=5,
    )
    body = answer.json()
    assert answer.status_code == 400 and body["description"] == "Validation failed"
    assert {error["field"] for error in body["errors"]} == {"priority", "tags", "colour"}
    assert desk.writes == []


def test_include_is_validated_and_embeds_abridged_records(desk: FakeFreshdesk) -> None:
    company = desk.add_company("Initech", account_tier="Premium")
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example", company_id=company)
    ticket_id = desk.create_ticket("Help", "Body", contact)["id"]
    url, headers = f"{desk.base_url}/api/v2/tickets/{ticket_id}", auth_headers({"api_key": KEY})
    body = requests.get(url, params={"include": "requester,company"}, headers=headers, timeout=5).json()
    assert set(body["requester"]) == {"id", "name", "email", "mobile", "phone"}, "no language in the embed"
    assert body["company"] == {"id": company, "name": "Initech"}, "no custom fields in the embed"
    refused = requests.get(url, params={"include": "users"}, headers=headers, timeout=5)
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "include"


def test_conversations_are_paged_oldest_first_and_move_updated_at(desk: FakeFreshdesk, client: FreshdeskClient) -> None:
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example")
    ticket = desk.create_ticket("Help", "Body", contact)
    created = ticket["updated_at"]
    for i in range(105):
        desk.agent_note(ticket["id"], f"note {i}")
    assert ticket["updated_at"] > created
    comment = client.latest_comment(str(ticket["id"]))
    assert comment is not None and comment.body == "note 104" and comment.public is False
    assert comment.author_id == str(HUMAN_AGENT_ID)


def test_a_save_fires_the_rule_once_naming_the_first_matched_event(desk: FakeFreshdesk) -> None:
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example")
    ticket_id = desk.create_ticket("Help", "Body", contact)["id"]
    desk.clear_webhooks()
    desk.agent_update(ticket_id, group_id=102, priority=4, status=3)
    (payload,) = desk.pending_webhooks()
    assert payload["freshdesk_webhook"]["triggered_event"] == "{status:{from:2,to:3}}"
    assert payload["freshdesk_webhook"]["actor_id"] == str(HUMAN_AGENT_ID)
    desk.agent_update(ticket_id, tags=["x"])
    assert len(desk.pending_webhooks()) == 1, "tags are no rule event"


def test_the_rendered_body_is_what_the_receiver_understands(desk: FakeFreshdesk) -> None:
    desk.body_template = {
        "freshdesk_webhook": {
            "ticket_id": "{{ticket.id}}",
            "triggered_event": "{{triggered_event}}",
            "updated_at": "{{ticket.modified_on}}",
            "ticket_status": "{{ticket.status}}",
            "ticket_priority": "{{ticket.priority}}",
            "unknown": "{{ticket.no_such_thing}}",
        }
    }
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example")
    ticket_id = desk.create_ticket("Help", "Body", contact)["id"]
    desk.agent_update(ticket_id, status=6)
    created, changed = (payload["freshdesk_webhook"] for payload in desk.pending_webhooks())
    assert created["ticket_status"] == "Open" and created["ticket_priority"] == "Low" and created["unknown"] == ""
    assert changed["ticket_status"] == "Waiting on Customer"
    inbound = parse_event(json.dumps({"freshdesk_webhook": changed}).encode())
    assert inbound.event is not None and inbound.event.kind == "ticket.updated"
    headers = {name.lower(): value for name, value in desk.webhook_headers().items()}
    verify_request("s3", headers)
    assert SECRET_HEADER.lower() in headers


def test_no_echo_means_no_webhooks_for_our_own_changes(desk: FakeFreshdesk, client: FreshdeskClient) -> None:
    desk.echo = False
    contact = desk.add_contact("Dana Ruiz", "dana@initech.example")
    ticket_id = str(desk.create_ticket("Help", "Body", contact)["id"])
    desk.clear_webhooks()
    client.apply(client.fetch_ticket(ticket_id), Plan(priority="urgent"), _Ledger())
    assert desk.tickets[int(ticket_id)]["priority"] == 4 and desk.pending_webhooks() == []


class _Ledger:
    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def state(self, key: str) -> str | None:
        return self.states.get(key)

    def mark(self, key: str, state: str) -> None:
        self.states[key] = state
