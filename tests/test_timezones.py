"""Requester time zones as IANA names: Rails names (Zendesk `time_zone`, Freshdesk contacts) and IANA names
(Zendesk `iana_time_zone`) both become the zone deadlines are told in; anything else is None, never an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import responses

from escalator.connectors.freshdesk.api import FreshdeskClient
from escalator.connectors.freshdesk.api import auth_headers as freshdesk_auth
from escalator.connectors.http import VendorHttp
from escalator.connectors.timezones import RAILS_ZONES, iana_zone
from escalator.connectors.zendesk.api import ZendeskClient
from escalator.connectors.zendesk.api import auth_headers as zendesk_auth
from escalator.connectors.zendesk.webhook import parse_event

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- the mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rails", "zone"), sorted(RAILS_ZONES.items()))
def test_every_rails_zone_is_a_zone_this_machine_knows(rails: str, zone: str) -> None:
    assert ZoneInfo(zone).key == zone
    assert iana_zone(rails) == zone


def test_the_mapping_is_activesupports_whole_list() -> None:
    assert len(RAILS_ZONES) >= 150
    assert "UTC" in RAILS_ZONES and "International Date Line West" in RAILS_ZONES and "Samoa" in RAILS_ZONES


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Eastern Time (US & Canada)", "America/New_York"),
        ("Central Time (US & Canada)", "America/Chicago"),
        ("Mountain Time (US & Canada)", "America/Denver"),
        ("Pacific Time (US & Canada)", "America/Los_Angeles"),
        ("Arizona", "America/Phoenix"),
        ("Mexico City", "America/Mexico_City"),
        ("Brasilia", "America/Sao_Paulo"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
        ("London", "Europe/London"),
        ("Edinburgh", "Europe/London"),
        ("Madrid", "Europe/Madrid"),
        ("Bern", "Europe/Zurich"),
        ("Kyiv", "Europe/Kyiv"),
        ("New Delhi", "Asia/Kolkata"),
        ("Beijing", "Asia/Shanghai"),
        ("Tokyo", "Asia/Tokyo"),
        ("Sydney", "Australia/Sydney"),
        ("Nuku'alofa", "Pacific/Tongatapu"),
        ("UTC", "Etc/UTC"),
        ("eastern time (us & canada)", "America/New_York"),  # a hand-typed name, case aside
        ("  Berlin ", "Europe/Berlin"),
    ],
)
def test_rails_names_become_iana_names(given: str, expected: str) -> None:
    assert iana_zone(given) == expected


@pytest.mark.parametrize("given", ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Etc/UTC", "Etc/GMT+5"])
def test_iana_names_pass_through(given: str) -> None:
    assert iana_zone(given) == given


@pytest.mark.parametrize(
    "given", [None, "", "   ", "Atlantis", "America", "america/new_york", "../etc/passwd", "/etc/localtime", "a\x00b"]
)
def test_no_zone_or_an_unknown_one_is_none(given: str | None) -> None:
    assert iana_zone(given) is None


def test_a_value_that_is_not_text_is_none() -> None:
    for odd in ({"name": "Berlin"}, -5, ["Europe/Berlin"]):
        value: Any = odd  # a payload can hold anything
        assert iana_zone(value) is None


# --- Zendesk: users ----------------------------------------------------------------------------------------

ZENDESK = "https://acme.zendesk.com"
ZENDESK_SHOW = fixture("zendesk/api_ticket_show.json")
ZENDESK_TICKET = {**ZENDESK_SHOW["ticket"], "group_id": None, "organization_id": None}
ZENDESK_USER = ZENDESK_SHOW["users"][0]


@pytest.fixture
def vendor() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def zendesk() -> ZendeskClient:
    auth = {"email": "escalator@acme.example", "api_token": "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"}
    return ZendeskClient(VendorHttp(ZENDESK, zendesk_auth(auth), sleep=lambda _seconds: None))


def zendesk_requester(vendor: responses.RequestsMock, client: ZendeskClient, **user: Any) -> str | None:
    """The requester's time zone as fetch_ticket reads it, for a user with these fields changed."""
    requester = {**ZENDESK_USER, **user}
    vendor.get(
        f"{ZENDESK}/api/v2/tickets/{ZENDESK_TICKET['id']}.json", json={"ticket": ZENDESK_TICKET, "users": [requester]}
    )
    return client.fetch_ticket(str(ZENDESK_TICKET["id"])).requester.time_zone


def test_zendesk_prefers_the_iana_time_zone(vendor: responses.RequestsMock, zendesk: ZendeskClient) -> None:
    zone = zendesk_requester(
        vendor, zendesk, time_zone="Eastern Time (US & Canada)", iana_time_zone="America/Indiana/Indianapolis"
    )
    assert zone == "America/Indiana/Indianapolis"


def test_zendesk_reads_the_rails_name_without_an_iana_one(
    vendor: responses.RequestsMock, zendesk: ZendeskClient
) -> None:
    assert zendesk_requester(vendor, zendesk, time_zone="Brasilia") == "America/Sao_Paulo"
    assert zendesk_requester(vendor, zendesk, time_zone="Pacific Time (US & Canada)", iana_time_zone=None) == (
        "America/Los_Angeles"
    )
    assert zendesk_requester(vendor, zendesk, time_zone="Tokyo", iana_time_zone="Nowhere/Special") == "Asia/Tokyo"


def test_zendesk_user_without_a_known_zone(vendor: responses.RequestsMock, zendesk: ZendeskClient) -> None:
    assert zendesk_requester(vendor, zendesk, time_zone=None, iana_time_zone=None) is None
    assert zendesk_requester(vendor, zendesk, time_zone="Somewhere Nice") is None


def test_zendesk_snapshot_path_reads_the_cached_user_too(
    vendor: responses.RequestsMock, zendesk: ZendeskClient
) -> None:
    inbound = parse_event(json.dumps(fixture("zendesk/ticket_created.json")).encode(), {})
    event = inbound.event
    assert event is not None and event.snapshot is not None
    detail = {**event.snapshot, "group_id": None, "organization_id": None, "requester_id": ZENDESK_USER["id"]}
    user = {**ZENDESK_USER, "time_zone": "Eastern Time (US & Canada)", "iana_time_zone": "America/New_York"}
    vendor.get(f"{ZENDESK}/api/v2/users/{ZENDESK_USER['id']}.json", json={"user": user})
    ticket = zendesk.ticket_for(event.ticket_id, [replace(event, snapshot=detail)], fields=set(), read_back=False)
    assert ticket.requester.time_zone == "America/New_York"


# --- Freshdesk: contacts -----------------------------------------------------------------------------------

FRESHDESK = "https://globex.freshdesk.com"
FRESHDESK_TICKET = {**fixture("freshdesk/api_ticket_show.json"), "company_id": None, "group_id": None}
FRESHDESK_CONTACT = fixture("freshdesk/api_contact.json")


@pytest.fixture
def freshdesk() -> FreshdeskClient:
    http = VendorHttp(FRESHDESK, freshdesk_auth({"api_key": "Pm3kQz8ruXh4LT1vVbAc"}), sleep=lambda _seconds: None)
    return FreshdeskClient(http, statuses={"6": "pending", "7": "on_hold"})


def freshdesk_requester(vendor: responses.RequestsMock, client: FreshdeskClient, **contact: Any) -> str | None:
    vendor.get(f"{FRESHDESK}/api/v2/tickets/{FRESHDESK_TICKET['id']}", json=FRESHDESK_TICKET)
    vendor.get(f"{FRESHDESK}/api/v2/contacts/{FRESHDESK_CONTACT['id']}", json={**FRESHDESK_CONTACT, **contact})
    return client.fetch_ticket(str(FRESHDESK_TICKET["id"])).requester.time_zone


def test_freshdesk_contact_time_zone_is_a_rails_name(
    vendor: responses.RequestsMock, freshdesk: FreshdeskClient
) -> None:
    assert FRESHDESK_CONTACT["time_zone"] == "Madrid"
    assert freshdesk_requester(vendor, freshdesk) == "Europe/Madrid"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Eastern Time (US & Canada)", "America/New_York"),
        ("Chennai", "Asia/Kolkata"),
        ("International Date Line West", "Etc/GMT+12"),
        (None, None),
        ("", None),
        ("Mars Standard Time", None),
    ],
)
def test_freshdesk_contact_zones(
    given: str | None, expected: str | None, vendor: responses.RequestsMock, freshdesk: FreshdeskClient
) -> None:
    assert freshdesk_requester(vendor, freshdesk, time_zone=given) == expected


def test_freshdesk_deleted_contact_has_no_zone(vendor: responses.RequestsMock, freshdesk: FreshdeskClient) -> None:
    vendor.get(f"{FRESHDESK}/api/v2/tickets/{FRESHDESK_TICKET['id']}", json=FRESHDESK_TICKET)
    vendor.get(f"{FRESHDESK}/api/v2/contacts/{FRESHDESK_CONTACT['id']}", status=404)
    assert freshdesk.fetch_ticket(str(FRESHDESK_TICKET["id"])).requester.time_zone is None
