"""Zendesk webhooks in: the signature check and every payload shape we accept, ignore or refuse.

Fixtures under tests/fixtures/zendesk/ are written in Zendesk's event-subscription shape (ids as strings in
`detail`, enums in upper case, `time` with nanoseconds); expected values are read from them, not retyped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from escalator.connectors.errors import WebhookRejected
from escalator.connectors.zendesk.webhook import (
    IGNORED_TICKET_EVENTS,
    INVOCATION_HEADER,
    SIGNATURE_HEADER,
    TICKET_EVENTS,
    TIMESTAMP_HEADER,
    parse_event,
    sign,
    verify_request,
)
from escalator.rules.model import EVENT_KINDS, Comment, TicketEvent

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
SECRET = "dGhpcyBpcyBhIHNpZ25pbmcgc2VjcmV0"
SIGNED_AT = "2025-03-03T10:02:46Z"
NOW = datetime(2025, 3, 3, 10, 3, 16, tzinfo=UTC)  # 30 seconds after SIGNED_AT
INVOCATION = "01JNCW0Y8J6T5ZQ9RZ3W1B7K4M"

# Every ticket event type on Zendesk's "Ticket events" reference page (webhooks, event subscriptions).
ZENDESK_DOCUMENTED_TICKET_EVENTS = (
    "ticket.agent_assignment_changed",
    "ticket.attachment_linked_to_comment",
    "ticket.attachment_redacted_from_comment",
    "ticket.brand_changed",
    "ticket.comment_added",
    "ticket.comment_made_private",
    "ticket.comment_redacted",
    "ticket.custom_field_changed",
    "ticket.custom_status_changed",
    "ticket.description_changed",
    "ticket.external_id_changed",
    "ticket.email_ccs_changed",
    "ticket.followers_changed",
    "ticket.form_changed",
    "ticket.group_assignment_changed",
    "ticket.organization_changed",
    "ticket.priority_changed",
    "ticket.problem_link_changed",
    "ticket.requester_changed",
    "ticket.status_changed",
    "ticket.subject_changed",
    "ticket.submitter_changed",
    "ticket.tags_changed",
    "ticket.task_due_at_changed",
    "ticket.created",
    "ticket.marked_as_spam",
    "ticket.merged",
    "ticket.permanently_deleted",
    "ticket.soft_deleted",
    "ticket.type_changed",
    "ticket.undeleted",
)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_bytes(name))
    return data


def zendesk_signature(secret: str, body: bytes, timestamp: str) -> str:
    """Zendesk's documented algorithm, computed here independently of the code under test."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed(body: bytes, *, secret: str = SECRET, timestamp: str = SIGNED_AT) -> dict[str, str]:
    """Headers as the receiver hands them to a connector: lower-case names."""
    return {
        SIGNATURE_HEADER.lower(): zendesk_signature(secret, body, timestamp),
        TIMESTAMP_HEADER.lower(): timestamp,
        INVOCATION_HEADER.lower(): INVOCATION,
        "content-type": "application/json",
    }


def rejected(call: Any, *args: Any) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        call(*args)
    return caught.value


def instant(text: str) -> datetime:
    """`...Z` to an aware UTC datetime, down to the microsecond (Zendesk's `time` carries nanoseconds)."""
    whole, _, fraction = text.removesuffix("Z").partition(".")
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return moment + timedelta(microseconds=int(fraction[:6].ljust(6, "0"))) if fraction else moment


def parsed(name: str) -> tuple[TicketEvent, dict[str, Any]]:
    """Parse a fixture as delivered; returns the event and the raw payload it came from."""
    body = fixture_bytes(name)
    inbound = parse_event(body, signed(body))
    assert inbound.ignored is None
    assert inbound.event is not None
    return inbound.event, json.loads(body)


# --- verify_request ----------------------------------------------------------------------------------------


def test_a_correctly_signed_request_passes() -> None:
    body = fixture_bytes("ticket_created.json")
    verify_request(SECRET, body, signed(body), NOW)  # raises on failure


def test_sign_produces_what_zendesk_sends() -> None:
    body = fixture_bytes("ticket_created.json")
    assert sign(SECRET, body, SIGNED_AT) == zendesk_signature(SECRET, body, SIGNED_AT)


def test_wrong_secret_is_rejected() -> None:
    body = fixture_bytes("ticket_created.json")
    error = rejected(verify_request, SECRET, body, signed(body, secret="someone-else's-secret"), NOW)
    assert error.status == 401
    assert "does not match" in error.reason


def test_tampered_body_is_rejected() -> None:
    body = fixture_bytes("ticket_status_changed_solved.json")
    headers = signed(body)
    tampered = body.replace(b'"SOLVED"', b'"OPEN"')
    assert tampered != body
    error = rejected(verify_request, SECRET, tampered, headers, NOW)
    assert error.status == 401
    assert "does not match" in error.reason


def test_signature_over_a_different_timestamp_is_rejected() -> None:
    body = fixture_bytes("ticket_created.json")
    headers = signed(body)
    headers[TIMESTAMP_HEADER.lower()] = "2025-03-03T10:02:50Z"  # fresh, but not what was signed
    error = rejected(verify_request, SECRET, body, headers, NOW)
    assert error.status == 401
    assert "does not match" in error.reason


@pytest.mark.parametrize("missing", [[SIGNATURE_HEADER], [TIMESTAMP_HEADER], [SIGNATURE_HEADER, TIMESTAMP_HEADER]])
def test_missing_signature_headers_are_rejected(missing: list[str]) -> None:
    body = fixture_bytes("ticket_created.json")
    headers = signed(body)
    for name in missing:
        del headers[name.lower()]
    error = rejected(verify_request, SECRET, body, headers, NOW)
    assert error.status == 401
    assert "missing" in error.reason


def test_empty_signature_header_counts_as_missing() -> None:
    body = fixture_bytes("ticket_created.json")
    headers = {**signed(body), SIGNATURE_HEADER.lower(): ""}
    error = rejected(verify_request, SECRET, body, headers, NOW)
    assert (error.status, "missing" in error.reason) == (401, True)


@pytest.mark.parametrize("signature", ["not base64 at all!", "abc", "ï£¿ünïcode=="])
def test_malformed_base64_signature_is_rejected(signature: str) -> None:
    body = fixture_bytes("ticket_created.json")
    headers = {**signed(body), SIGNATURE_HEADER.lower(): signature}
    error = rejected(verify_request, SECRET, body, headers, NOW)
    assert error.status == 401
    assert "malformed" in error.reason


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-6), False),  # replayed: signed six minutes before it arrived
        (timedelta(minutes=6), False),  # signed "in the future"
        (timedelta(minutes=-4, seconds=-59), True),
        (timedelta(minutes=4, seconds=59), True),
    ],
)
def test_timestamp_window_is_five_minutes_either_way(offset: timedelta, accepted: bool) -> None:
    body = fixture_bytes("ticket_created.json")
    stamp = (NOW + offset).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = signed(body, timestamp=stamp)  # correctly signed, so only the clock can refuse it
    if accepted:
        verify_request(SECRET, body, headers, NOW)
    else:
        error = rejected(verify_request, SECRET, body, headers, NOW)
        assert error.status == 401
        assert "stale or future" in error.reason


def test_correctly_signed_but_unreadable_timestamp_is_rejected() -> None:
    body = fixture_bytes("ticket_created.json")
    headers = signed(body, timestamp="last tuesday")
    error = rejected(verify_request, SECRET, body, headers, NOW)
    assert error.status == 401
    assert "timestamp" in error.reason


@pytest.mark.parametrize("secret", ["", None])
def test_no_configured_secret_rejects_even_a_matching_signature(secret: str | None) -> None:
    body = fixture_bytes("ticket_created.json")
    headers = signed(body, secret="")  # what an attacker could compute if an empty key were accepted
    error = rejected(verify_request, secret, body, headers, NOW)
    assert error.status == 401
    assert "secret" in error.reason


def test_every_rejection_carries_a_reason() -> None:
    body = fixture_bytes("ticket_created.json")
    cases = [
        ("", signed(body)),
        (SECRET, {}),
        (SECRET, {**signed(body), SIGNATURE_HEADER.lower(): "%%%"}),
        (SECRET, signed(body, secret="wrong")),
        (SECRET, signed(body, timestamp="2020-01-01T00:00:00Z")),
    ]
    reasons = []
    for secret, headers in cases:
        error = rejected(verify_request, secret, body, headers, NOW)
        assert error.status == 401
        assert error.reason and str(error) == error.reason
        reasons.append(error.reason)
    assert len(set(reasons)) == len(cases), "each failure explains itself differently"


# --- parse_event: event-subscription payloads ------------------------------------------------------------


def test_ticket_created() -> None:
    event, payload = parsed("ticket_created.json")
    assert event.kind == "ticket.created"
    assert event.ticket_id == payload["detail"]["id"] == payload["subject"].removeprefix("zen:ticket:")
    assert event.delivery_id == "zendesk:" + payload["id"]
    assert event.occurred_at == instant(payload["time"])
    assert event.occurred_at.tzinfo is not None
    assert event.actor_id == payload["detail"]["actor_id"]
    assert event.comment is None
    assert event.changes == {}
    assert event.source == "webhook"


def test_public_comment_by_the_end_user() -> None:
    event, payload = parsed("ticket_comment_added_public_end_user.json")
    raw = payload["event"]["comment"]
    assert event.kind == "comment.added"
    assert event.ticket_id == payload["detail"]["id"]
    assert event.occurred_at == instant(payload["time"])
    assert event.actor_id == raw["author"]["id"]
    assert event.comment == Comment(
        body=raw["body"], public=True, author="requester", author_id=raw["author"]["id"], id=raw["id"]
    )


def test_private_comment_by_an_agent() -> None:
    event, payload = parsed("ticket_comment_added_private_agent.json")
    raw = payload["event"]["comment"]
    assert event.kind == "comment.added"
    assert event.comment == Comment(
        body=raw["body"], public=False, author="agent", author_id=raw["author"]["id"], id=raw["id"]
    )
    assert event.actor_id == payload["detail"]["actor_id"]


@pytest.mark.parametrize(("is_staff", "author"), [("true", "agent"), ("false", "requester"), (None, "requester")])
def test_comment_author_flags_as_strings_or_absent(is_staff: str | None, author: str) -> None:
    payload = fixture("ticket_comment_added_public_end_user.json")
    payload["event"]["comment"]["author"]["is_staff"] = is_staff
    payload["event"]["comment"]["is_public"] = "false"
    inbound = parse_event(json.dumps(payload).encode(), {})
    assert inbound.event is not None and inbound.event.comment is not None
    assert inbound.event.comment.author == author
    assert inbound.event.comment.public is False


def test_status_changed_to_solved_is_a_solve() -> None:
    event, payload = parsed("ticket_status_changed_solved.json")
    assert payload["event"]["current"] == "SOLVED"  # upper case, as Zendesk sends it
    assert event.kind == "ticket.solved"
    assert event.changes == {"status": ("open", "solved")}
    assert event.actor_id == payload["detail"]["actor_id"]


def test_status_changed_from_solved_to_open_is_a_reopen() -> None:
    event, _payload = parsed("ticket_status_changed_reopened.json")
    assert event.kind == "ticket.reopened"
    assert event.changes == {"status": ("solved", "open")}


@pytest.mark.parametrize(
    ("previous", "current", "kind", "change"),
    [
        ("OPEN", "PENDING", "ticket.updated", ("open", "pending")),
        ("PENDING", "HOLD", "ticket.updated", ("pending", "on_hold")),
        ("CLOSED", "OPEN", "ticket.reopened", ("closed", "open")),
        ("SOLVED", "CLOSED", "ticket.updated", ("solved", "closed")),
        ("NEW", "SOLVED", "ticket.solved", ("new", "solved")),
    ],
)
def test_other_status_transitions(previous: str, current: str, kind: str, change: tuple[str, str]) -> None:
    payload = fixture("ticket_status_changed_solved.json")
    payload["event"].update(previous=previous, current=current)
    event = parse_event(json.dumps(payload).encode(), {}).event
    assert event is not None
    assert (event.kind, event.changes["status"]) == (kind, change)


def test_priority_changed() -> None:
    event, payload = parsed("ticket_priority_changed.json")
    assert (payload["event"]["previous"], payload["event"]["current"]) == ("NORMAL", "URGENT")
    assert event.kind == "ticket.updated"
    assert event.changes == {"priority": ("normal", "urgent")}


def test_group_assignment_changed() -> None:
    event, payload = parsed("ticket_group_assignment_changed.json")
    assert event.kind == "ticket.updated"
    assert event.changes == {"group": (payload["event"]["previous"]["id"], payload["event"]["current"]["id"])}
    assert all(isinstance(value, str) and value.isdigit() for value in event.changes["group"])


def test_group_assignment_changed_with_plain_ids_and_no_previous_group() -> None:
    payload = fixture("ticket_group_assignment_changed.json")
    payload["event"].update(previous=None, current="102")
    event = parse_event(json.dumps(payload).encode(), {}).event
    assert event is not None
    assert event.changes == {"group": (None, "102")}


def test_tags_changed() -> None:
    event, payload = parsed("ticket_tags_changed.json")
    assert event.kind == "ticket.updated"
    assert event.changes == {"tags": (payload["event"]["tags_removed"], payload["event"]["tags_added"])}


def test_subject_changed_from_nothing_is_none_not_the_string_none() -> None:
    payload = fixture("ticket_created.json")
    payload["type"] = "zen:event-type:ticket.subject_changed"
    payload["event"] = {"previous": None, "current": "Invoices page is down"}
    event = parse_event(json.dumps(payload).encode(), {}).event
    assert event is not None
    assert event.changes == {"subject": (None, "Invoices page is down")}


def test_delivery_id_falls_back_to_the_invocation_header() -> None:
    payload = fixture("ticket_created.json")
    del payload["id"]
    body = json.dumps(payload).encode()
    event = parse_event(body, signed(body)).event
    assert event is not None
    assert event.delivery_id == "zendesk:" + INVOCATION


def test_same_event_redelivered_keeps_its_delivery_id() -> None:
    body = fixture_bytes("ticket_priority_changed.json")
    first = parse_event(body, {**signed(body), INVOCATION_HEADER.lower(): "attempt-1"}).event
    again = parse_event(body, {**signed(body), INVOCATION_HEADER.lower(): "attempt-2"}).event
    assert first is not None and again is not None
    assert first.delivery_id == again.delivery_id


def test_parsed_events_survive_the_queue_round_trip() -> None:
    for name in ("ticket_comment_added_private_agent.json", "ticket_group_assignment_changed.json"):
        event, _ = parsed(name)
        assert TicketEvent.from_json(event.to_json()) == event


# --- parse_event: what is acknowledged but not queued ---------------------------------------------------


def test_ignored_ticket_event() -> None:
    body = fixture_bytes("ticket_brand_changed.json")
    inbound = parse_event(body, signed(body))
    assert inbound.event is None
    assert inbound.ignored is not None and "ticket.brand_changed" in inbound.ignored


def test_user_event_is_ignored() -> None:
    body = fixture_bytes("user_name_changed.json")
    inbound = parse_event(body, signed(body))
    assert inbound.event is None
    assert inbound.ignored is not None and "user.name_changed" in inbound.ignored


def test_unknown_ticket_event_is_ignored_not_refused() -> None:
    payload = fixture("ticket_created.json")
    payload["type"] = "zen:event-type:ticket.csat_received"
    inbound = parse_event(json.dumps(payload).encode(), {})
    assert inbound.event is None
    assert inbound.ignored is not None and "ticket.csat_received" in inbound.ignored


# --- parse_event: what is refused -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"<html>hello</html>", b"", b"\xff\xfe\x00garbage", b'{"type": "zen:event-type:ticket.created"'],
    ids=["html", "empty", "not-utf8", "truncated"],
)
def test_not_json_is_refused(body: bytes) -> None:
    error = rejected(parse_event, body, {})
    assert error.status == 400
    assert "JSON" in error.reason


@pytest.mark.parametrize("body", [b"[]", b'[{"type": "zen:event-type:ticket.created"}]', b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_refused(body: bytes) -> None:
    error = rejected(parse_event, body, {})
    assert error.status == 400
    assert "object" in error.reason


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.pop("type"),
        lambda p: p.update(type="End User Comment"),  # a hand-written trigger body, not ours
        lambda p: p.update(type="ticket.created"),
        lambda p: p.update(type=None),
        lambda p: p.update(type=["zen:event-type:ticket.created"]),
    ],
    ids=["no-type", "trigger-style", "no-prefix", "null", "list"],
)
def test_payload_without_a_zendesk_event_type_is_refused(change: Any) -> None:
    payload = fixture("ticket_created.json")
    change(payload)
    error = rejected(parse_event, json.dumps(payload).encode(), {})
    assert error.status == 400
    assert "did Zendesk send this" in error.reason


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["detail"].pop("id"),
        lambda p: p["detail"].update(id=None),
        lambda p: p["detail"].update(id="abc"),
        lambda p: p["detail"].update(id="4²"),
        lambda p: (p["detail"].pop("id"), p.pop("subject")),
    ],
    ids=["missing", "null", "letters", "non-ascii-digit", "missing-with-subject"],
)
def test_ticket_event_without_a_usable_ticket_id_is_refused(change: Any) -> None:
    payload = fixture("ticket_status_changed_solved.json")
    change(payload)
    error = rejected(parse_event, json.dumps(payload).encode(), {})
    assert error.status == 400
    assert "ticket id" in error.reason


@pytest.mark.parametrize(
    "change",
    [lambda p: p.pop("time"), lambda p: p.update(time="yesterday"), lambda p: p.update(time=1741000000)],
    ids=["missing", "unreadable", "number"],
)
def test_ticket_event_without_a_time_is_refused(change: Any) -> None:
    payload = fixture("ticket_created.json")
    change(payload)
    error = rejected(parse_event, json.dumps(payload).encode(), {})
    assert error.status == 400


def test_ticket_event_without_any_event_id_is_refused() -> None:
    payload = fixture("ticket_created.json")
    del payload["id"]
    error = rejected(parse_event, json.dumps(payload).encode(), {})  # and no invocation header either
    assert error.status == 400


@pytest.mark.parametrize("detail", [None, "4211", ["4211"]])
def test_ticket_event_whose_detail_is_not_an_object_is_refused(detail: Any) -> None:
    payload = fixture("ticket_created.json")
    payload["detail"] = detail
    error = rejected(parse_event, json.dumps(payload).encode(), {})
    assert error.status == 400
    assert "detail" in error.reason


@pytest.mark.parametrize("comment", ["just text", ["a", "b"], {"body": "x", "author": "11001"}])
def test_comment_event_with_odd_shapes_does_not_crash(comment: Any) -> None:
    payload = fixture("ticket_comment_added_public_end_user.json")
    payload["event"]["comment"] = comment
    event = parse_event(json.dumps(payload).encode(), {}).event
    assert event is not None and event.comment is not None
    assert event.comment.author == "requester"


# --- parse_event: the trigger-webhook body Escalator documents ------------------------------------------


def test_trigger_body() -> None:
    body = fixture_bytes("trigger_comment_added.json")
    raw = json.loads(body)["escalator"]
    event = parse_event(body, signed(body)).event
    assert event is not None
    assert event.kind == raw["event"] == "comment.added"
    assert event.ticket_id == raw["ticket_id"]
    assert event.actor_id == raw["actor_id"]
    assert event.delivery_id == "zendesk:" + INVOCATION
    assert event.occurred_at == instant(SIGNED_AT)
    assert event.comment is None
    assert event.detail == {"fetch_comment": True}  # the worker reads the comment back from the API


def test_trigger_body_prefers_its_own_time_and_accepts_a_numeric_ticket_id() -> None:
    payload = {"escalator": {"event": "ticket.solved", "ticket_id": 123, "time": "2025-03-03T10:00:00Z"}}
    body = json.dumps(payload).encode()
    event = parse_event(body, signed(body)).event
    assert event is not None
    assert (event.kind, event.ticket_id, event.actor_id) == ("ticket.solved", "123", None)
    assert event.occurred_at == instant("2025-03-03T10:00:00Z")
    assert event.detail == {"fetch_comment": False}


@pytest.mark.parametrize("name", [None, "", "comment.created", "ticket.comment_added", ["comment.added"], {"a": 1}])
def test_trigger_body_with_a_bad_event_name_is_refused(name: Any) -> None:
    body = json.dumps({"escalator": {"event": name, "ticket_id": "123"}}).encode()
    error = rejected(parse_event, body, signed(body))
    assert error.status == 400
    assert "escalator.event" in error.reason


@pytest.mark.parametrize("ticket_id", ["{{ticket.id}}", "", "12a", "-5", "1.5", "²", None, True])
def test_trigger_body_with_a_non_numeric_ticket_id_is_refused(ticket_id: Any) -> None:
    body = json.dumps({"escalator": {"event": "comment.added", "ticket_id": ticket_id}}).encode()
    error = rejected(parse_event, body, signed(body))
    assert error.status == 400
    assert "escalator.ticket_id" in error.reason


def test_trigger_body_without_an_invocation_id_is_refused() -> None:
    body = fixture_bytes("trigger_comment_added.json")
    headers = signed(body)
    del headers[INVOCATION_HEADER.lower()]
    error = rejected(parse_event, body, headers)
    assert error.status == 400
    assert "invocation" in error.reason


@pytest.mark.parametrize("value", ["comment.added", ["comment.added"], None])
def test_trigger_body_that_is_not_an_object_is_refused(value: Any) -> None:
    body = json.dumps({"escalator": value}).encode()
    error = rejected(parse_event, body, signed(body))
    assert error.status == 400


# --- declaration: every documented ticket event is handled or knowingly ignored ------------------------


def test_every_documented_ticket_event_is_declared() -> None:
    undeclared = [
        name
        for name in ZENDESK_DOCUMENTED_TICKET_EVENTS
        if name not in TICKET_EVENTS and name not in IGNORED_TICKET_EVENTS
    ]
    assert undeclared == []


def test_handled_and_ignored_events_do_not_overlap() -> None:
    assert set(TICKET_EVENTS).isdisjoint(IGNORED_TICKET_EVENTS)


def test_declared_names_are_ticket_events_and_map_to_engine_kinds() -> None:
    for name in [*TICKET_EVENTS, *IGNORED_TICKET_EVENTS]:
        assert name.startswith("ticket."), name
    assert {kind for kind, _parse in TICKET_EVENTS.values()} <= set(EVENT_KINDS)


@pytest.mark.parametrize("name", sorted(TICKET_EVENTS))
def test_every_handled_event_parses(name: str) -> None:
    payload = fixture("ticket_created.json")
    payload["type"] = f"zen:event-type:{name}"
    payload["event"] = {"current": "7", "previous": "6", "meta": {}}
    inbound = parse_event(json.dumps(payload).encode(), {})
    assert inbound.ignored is None and inbound.event is not None
    assert inbound.event.kind in EVENT_KINDS
    assert inbound.event.ticket_id == payload["detail"]["id"]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("ticket.agent_assignment_changed", "assignee"),
        ("ticket.group_assignment_changed", "group"),
        ("ticket.organization_changed", "organization"),
        ("ticket.requester_changed", "requester"),
        ("ticket.custom_status_changed", "custom_status"),
    ],
)
@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ({"id": "6"}, {"id": "7"}, ("6", "7")),
        ("6", "7", ("6", "7")),
        (None, {"id": "7"}, (None, "7")),
        ({"id": "6"}, None, ("6", None)),
    ],
    ids=["objects", "strings", "from-none", "to-none"],
)
def test_reference_changes_give_plain_ids(name: str, field: str, previous: Any, current: Any, expected: Any) -> None:
    payload = fixture("ticket_group_assignment_changed.json")
    payload["type"] = f"zen:event-type:{name}"
    payload["event"].update(previous=previous, current=current)
    event = parse_event(json.dumps(payload).encode(), {}).event
    assert event is not None
    assert event.changes == {field: expected}


@pytest.mark.parametrize("name", sorted(IGNORED_TICKET_EVENTS))
def test_every_ignored_event_is_acknowledged_without_an_event(name: str) -> None:
    payload = fixture("ticket_brand_changed.json")
    payload["type"] = f"zen:event-type:{name}"
    inbound = parse_event(json.dumps(payload).encode(), {})
    assert inbound.event is None
    assert inbound.ignored is not None and name in inbound.ignored
