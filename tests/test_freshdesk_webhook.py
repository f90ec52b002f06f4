"""Freshdesk webhooks in: the shared secret, the `{{triggered_event}}` mini-syntax, and every body we accept,
ignore or refuse.

Fixtures under tests/fixtures/freshdesk/webhook_*.json are written in the shape Freshdesk's "Trigger Webhook"
action sends (every value a string, display names for status and priority, the event in its own non-JSON
syntax); expected values are read from them, not retyped.
"""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from escalator.connectors.base import TenantSettings
from escalator.connectors.errors import WebhookRejected
from escalator.connectors.freshdesk import FreshdeskConnector
from escalator.connectors.freshdesk.webhook import (
    DOCUMENTED_BODY,
    IGNORED_EVENTS,
    SECRET_HEADER,
    TRIGGERED_EVENTS,
    TriggeredEvent,
    decode_triggered_event,
    delivery_id,
    meaning_of,
    parse_event,
    parse_moment,
    verify_request,
)
from escalator.rules.model import EVENT_KINDS, TicketEvent

FIXTURES = Path(__file__).parent / "fixtures" / "freshdesk"
SECRET = "Wq7-fd-3nv!secret"
NOW = datetime(2026, 3, 9, 14, 2, 20, tzinfo=UTC)

# Every event Freshdesk's ticket-update rule editor offers ("Involves any of these events"), by the name it
# uses in `{{triggered_event}}`, plus `ticket_action` (creation rules and ticket updated/deleted/spam).
FRESHDESK_RULE_EVENTS = (
    "priority",
    "ticket_type",
    "status",
    "group_id",
    "responder_id",
    "note_type",
    "reply_sent",
    "due_by",
    "ticket_action",
    "customer_feedback",
    "time_sheet_action",
    "mail_del_failed_requester",
    "mail_del_failed_others",
)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def parsed(payload: dict[str, Any]) -> TicketEvent:
    inbound = parse_event(body_of(payload), NOW)
    assert inbound.event is not None, inbound.ignored
    return inbound.event


def hook(**fields: str) -> dict[str, Any]:
    return {"freshdesk_webhook": {"ticket_id": "77", "updated_at": "2026-03-09 14:02:11 UTC", **fields}}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- verify ------------------------------------------------------------------------------------------------


def test_the_secret_header_is_accepted() -> None:
    verify_request(SECRET, {SECRET_HEADER.lower(): SECRET})


@pytest.mark.parametrize("user", ["freshdesk", "", "any name at all"])
def test_basic_auth_with_the_secret_as_password_is_accepted_whatever_the_user(user: str) -> None:
    verify_request(SECRET, {"authorization": basic(user, SECRET)})


def test_a_secret_with_colons_works_as_password_since_the_user_name_ends_at_the_first_colon() -> None:
    verify_request("a:b:c", {"authorization": basic("freshdesk", "a:b:c")})
    with pytest.raises(WebhookRejected):
        verify_request("a:b:c", {"authorization": basic("freshdesk", "a:b")})


def test_freshdesks_api_key_option_sends_key_colon_x_and_is_accepted() -> None:
    verify_request(SECRET, {"authorization": basic(SECRET, "X")})


def test_a_secret_outside_ascii_is_compared_as_utf8() -> None:
    verify_request("clé-secrète", {"authorization": basic("fd", "clé-secrète")})


@pytest.mark.parametrize(
    "headers",
    [
        {SECRET_HEADER.lower(): SECRET + "x"},
        {SECRET_HEADER.lower(): SECRET[:-1]},
        {SECRET_HEADER.lower(): SECRET.upper()},
        {"authorization": basic("freshdesk", "wrong")},
        {"authorization": basic("wrong", "X")},
        {"authorization": basic(SECRET, "Y")},
        {"authorization": "Bearer " + SECRET},
    ],
)
def test_a_wrong_secret_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as refused:
        verify_request(SECRET, headers)
    assert refused.value.status == 401


def test_one_right_credential_is_enough_when_both_are_sent() -> None:
    verify_request(SECRET, {SECRET_HEADER.lower(): "stale", "authorization": basic("fd", SECRET)})


def test_missing_credentials_are_refused() -> None:
    with pytest.raises(WebhookRejected) as refused:
        verify_request(SECRET, {"content-type": "application/json"})
    assert refused.value.status == 401 and SECRET_HEADER in refused.value.reason


@pytest.mark.parametrize("authorization", ["Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"nocolon").decode()])
def test_malformed_basic_auth_is_refused(authorization: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        verify_request(SECRET, {"authorization": authorization})
    assert refused.value.status == 401 and "malformed" in refused.value.reason


@pytest.mark.parametrize("configured", ["", None])
def test_no_configured_secret_refuses_everything_even_an_empty_header(configured: str | None) -> None:
    connector = FreshdeskConnector()
    for headers in ({SECRET_HEADER.lower(): ""}, {"authorization": basic("fd", "")}, {}):
        with pytest.raises(WebhookRejected) as refused:
            connector.verify(settings(configured), b"{}", headers, NOW)
        assert refused.value.status == 401


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(left: bytes, right: bytes) -> bool:
        compared.append((left, right))
        return real(left, right)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    verify_request(SECRET, {SECRET_HEADER.lower(): SECRET})
    assert compared == [(SECRET.encode(), SECRET.encode())]


def settings(secret: str) -> TenantSettings:
    return TenantSettings("globex", "https://globex.freshdesk.com", {}, secret)


def test_the_connector_verifies_with_the_tenants_secret() -> None:
    connector = FreshdeskConnector()
    connector.verify(settings(SECRET), b"{}", {SECRET_HEADER.lower(): SECRET}, NOW)
    with pytest.raises(WebhookRejected):
        connector.verify(settings("another tenant's"), b"{}", {SECRET_HEADER.lower(): SECRET}, NOW)


# --- the {{triggered_event}} syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{ticket_action:created}", TriggeredEvent("ticket_action", value="created")),
        ("{note_type:private}", TriggeredEvent("note_type", value="private")),
        ("{note_type:public}", TriggeredEvent("note_type", value="public")),
        ("{reply_sent:sent}", TriggeredEvent("reply_sent", value="sent")),
        ("{status:{from:4,to:6}}", TriggeredEvent("status", change=("4", "6"))),
        ("{priority:{from:3,to:1}}", TriggeredEvent("priority", change=("3", "1"))),
        (
            "{responder_id:{from:150006383528,to:150014937111}}",
            TriggeredEvent("responder_id", change=("150006383528", "150014937111")),
        ),
        ("{group_id:{from:null,to:5}}", TriggeredEvent("group_id", change=(None, "5"))),
        ("{group_id:{from:,to:}}", TriggeredEvent("group_id", change=(None, None))),
        (
            "{ticket_type:{from:Feature Request,to:Problem}}",
            TriggeredEvent("ticket_type", change=("Feature Request", "Problem")),
        ),
        ("{cf_region:{from:EMEA, North,to:APAC}}", TriggeredEvent("cf_region", change=("EMEA, North", "APAC"))),
        ("  { status : { from : 2 , to : 3 } }  ", TriggeredEvent("status", change=("2", "3"))),
        ('{"status":{"from":4,"to":6}}', TriggeredEvent("status", change=("4", "6"))),
        ('{"note_type":"private"}', TriggeredEvent("note_type", value="private")),
        ('{"group_id":{"from":null,"to":7}}', TriggeredEvent("group_id", change=(None, "7"))),
        ('{\\"status\\":{\\"from\\":2,\\"to\\":4}}'.replace("\\", ""), TriggeredEvent("status", change=("2", "4"))),
        ('{reply_sent:"sent"}', TriggeredEvent("reply_sent", value="sent")),
    ],
)
def test_triggered_event_forms_are_decoded(text: str, expected: TriggeredEvent) -> None:
    assert decode_triggered_event(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "{{triggered_event}}",  # the placeholder did not render
        "status changed",
        "{status}",
        "{:created}",
        "{9lives:yes}",
        "{status:{4,6}}",
        "[1, 2]",
        '{"a": 1, "b": 2}',
        "{}",
    ],
)
def test_text_that_is_not_freshdesks_syntax_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_triggered_event(text)


# --- what each event means ---------------------------------------------------------------------------------


def test_every_event_freshdesk_rules_can_send_is_either_handled_or_ignored_on_purpose() -> None:
    handled, ignored = set(TRIGGERED_EVENTS), set(IGNORED_EVENTS)
    assert handled.isdisjoint(ignored)
    assert set(FRESHDESK_RULE_EVENTS) == handled | ignored, "a rule event is neither handled nor ignored"


def test_every_kind_produced_is_one_the_engine_evaluates() -> None:
    samples = [
        TriggeredEvent(name, value="created")
        if name == "ticket_action"
        else TriggeredEvent(name, change=("2", "4"))
        if name == "status"
        else TriggeredEvent(name, value="sent")
        for name in TRIGGERED_EVENTS
    ]
    kinds = {meaning.kind for sample in samples if (meaning := meaning_of(sample)) is not None}
    assert kinds == {"ticket.created", "ticket.solved", "comment.added", "ticket.updated"}
    assert kinds <= set(EVENT_KINDS)


def test_ticket_created() -> None:
    payload = fixture("webhook_ticket_created.json")
    event = parsed(payload)
    assert event.kind == "ticket.created" and event.ticket_id == payload["freshdesk_webhook"]["ticket_id"]
    assert event.comment is None and not event.changes and not event.detail.get("fetch_comment")
    assert event.occurred_at == datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)
    assert event.actor_id == payload["freshdesk_webhook"]["actor_id"]


@pytest.mark.parametrize(
    ("name", "kind", "change"),
    [
        ("webhook_status_resolved.json", "ticket.solved", ("open", "solved")),
        ("webhook_status_reopened.json", "ticket.reopened", ("closed", "open")),
        ("webhook_status_custom.json", "ticket.updated", ("open", None)),  # custom: mapped by the worker
    ],
)
def test_status_changes(name: str, kind: str, change: tuple[str, str]) -> None:
    event = parsed(fixture(name))
    assert event.kind == kind and event.changes == {"status": change}


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("2", "4", "ticket.solved"),
        ("3", "5", "ticket.solved"),  # closed straight from pending
        ("6", "4", "ticket.solved"),  # custom status to resolved
        ("4", "5", "ticket.updated"),  # resolved -> closed is not solved a second time
        ("5", "4", "ticket.updated"),
        ("4", "2", "ticket.reopened"),
        ("5", "6", "ticket.reopened"),  # back to a custom (working) status
        ("4", "3", "ticket.reopened"),
        ("2", "3", "ticket.updated"),
        ("2", "7", "ticket.updated"),
        ("Open", "Resolved", "ticket.solved"),  # names, should an account render names
    ],
)
def test_status_kind_depends_only_on_resolved_and_closed(before: str, after: str, kind: str) -> None:
    assert parsed(hook(triggered_event=f"{{status:{{from:{before},to:{after}}}}}")).kind == kind


def test_priority_change_is_in_common_values() -> None:
    event = parsed(fixture("webhook_priority_changed.json"))
    assert event.kind == "ticket.updated" and event.changes == {"priority": ("normal", "urgent")}


def test_group_and_agent_changes_carry_ids() -> None:
    group = parsed(fixture("webhook_group_changed.json"))
    assert group.kind == "ticket.updated" and group.changes == {"group": (None, "43000551302")}
    agent = parsed(fixture("webhook_responder_changed.json"))
    assert agent.changes == {"assignee": ("43000187512", "43000187599")}


def test_ticket_type_change() -> None:
    event = parsed(hook(triggered_event="{ticket_type:{from:Question,to:Incident}}"))
    assert event.changes == {"type": ("Question", "Incident")}


@pytest.mark.parametrize("name", ["webhook_note_private.json", "webhook_note_public.json", "webhook_reply_sent.json"])
def test_notes_and_replies_are_comments_read_back_by_the_worker(name: str) -> None:
    payload = fixture(name)
    event = parsed(payload)
    assert event.kind == "comment.added"
    # The rendered comment in the body is neither trusted nor used: the worker reads the latest conversation
    # (and with it the author, which is how our own notes are recognised).
    assert event.comment is None and event.detail["fetch_comment"] is True
    assert event.detail["triggered_event"] == payload["freshdesk_webhook"]["triggered_event"]


def test_unknown_custom_field_change_is_an_update_with_its_change() -> None:
    event = parsed(fixture("webhook_custom_field_changed.json"))
    assert event.kind == "ticket.updated" and event.changes == {"cf_contract_level": ("Silver", "Gold Plus")}


@pytest.mark.parametrize("text", ["{ticket_action:updated}", "{ticket_action:update}", "{ticket_action:linked}"])
def test_ticket_updated_and_plausible_new_actions_are_updates(text: str) -> None:
    assert parsed(hook(triggered_event=text)).kind == "ticket.updated"


def test_an_event_freshdesk_may_add_later_is_an_update() -> None:
    event = parsed(hook(triggered_event="{sla_policy:changed}"))
    assert event.kind == "ticket.updated" and not event.changes


def test_due_date_change_is_an_update() -> None:
    assert parsed(hook(triggered_event="{due_by:changed}")).kind == "ticket.updated"


@pytest.mark.parametrize(
    "payload",
    [
        fixture("webhook_time_entry.json"),
        fixture("webhook_marked_spam.json"),
        hook(triggered_event="{ticket_action:deleted}"),
        hook(triggered_event="{customer_feedback:Extremely Happy}"),
        hook(triggered_event="{mail_del_failed_requester:true}"),
    ],
)
def test_events_that_change_nothing_a_rule_reads_are_ignored(payload: dict[str, Any]) -> None:
    inbound = parse_event(body_of(payload), NOW)
    assert inbound.event is None and inbound.ignored
    assert payload["freshdesk_webhook"]["triggered_event"] in inbound.ignored


def test_an_empty_triggered_event_from_a_time_rule_is_an_update() -> None:
    event = parsed(hook(triggered_event=""))
    assert event.kind == "ticket.updated" and event.detail == {"triggered_event": ""}


# --- the body ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "did Freshdesk send this?"),
        (b'"freshdesk_webhook"', "did Freshdesk send this?"),
        (b'{"ticket": {"id": 1}}', "did Freshdesk send this?"),
        (b'{"freshdesk_webhook": "{ticket_action:created}"}', "did Freshdesk send this?"),
        (b'{"freshdesk_webhook": {"triggered_event": "{ticket_action:created}"}}', "ticket_id"),
        (b'{"freshdesk_webhook": {"ticket_id": "{{ticket.id}}", "triggered_event": "{reply_sent:sent}"}}', "render"),
        (b'{"freshdesk_webhook": {"ticket_id": "12a", "triggered_event": "{reply_sent:sent}"}}', "ticket_id"),
        (b'{"freshdesk_webhook": {"ticket_id": "\xc2\xb2", "triggered_event": "{reply_sent:sent}"}}', "ticket_id"),
        (b'{"freshdesk_webhook": {"ticket_id": "12"}}', "triggered_event"),
        (b'{"freshdesk_webhook": {"ticket_id": "12", "triggered_event": "{{triggered_event}}"}}', "syntax"),
        (b'{"freshdesk_webhook": {"ticket_id": "12", "triggered_event": "created"}}', "syntax"),
    ],
)
def test_bodies_not_from_freshdesk_or_missing_required_fields_are_400(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        parse_event(body, NOW)
    assert refused.value.status == 400 and reason in refused.value.reason


def test_a_numeric_ticket_id_is_accepted_too() -> None:
    event = parsed({"freshdesk_webhook": {"ticket_id": 4821, "triggered_event": "{ticket_action:created}"}})
    assert event.ticket_id == "4821"


def test_leading_zeros_name_the_same_ticket() -> None:
    assert parsed(hook(ticket_id="004821", triggered_event="{reply_sent:sent}")).ticket_id == "4821"


@pytest.mark.parametrize(
    ("actor", "expected"), [("43000187500", "43000187500"), ("", None), ("{{event_performer.id}}", None), ("0", None)]
)
def test_actor_id_is_taken_only_when_it_rendered_an_id(actor: str, expected: str | None) -> None:
    assert parsed(hook(triggered_event="{priority:{from:1,to:4}}", actor_id=actor)).actor_id == expected


def test_the_connector_parses_the_documented_body_as_freshdesk_renders_it() -> None:
    rendered = json.loads(
        json.dumps(DOCUMENTED_BODY)
        .replace("{{ticket.id}}", "4821")
        .replace("{{triggered_event}}", "{note_type:private}")
        .replace("{{ticket.modified_on}}", "2026-03-09 19:32:15 +0530")
        .replace("{{event_performer.id}}", "43000187500")
    )
    inbound = FreshdeskConnector().parse(body_of(rendered), {})
    assert inbound.event is not None
    assert inbound.event.kind == "comment.added" and inbound.event.actor_id == "43000187500"
    assert inbound.event.occurred_at == datetime(2026, 3, 9, 14, 2, 15, tzinfo=UTC)


# --- delivery ids ------------------------------------------------------------------------------------------


def test_a_retry_of_the_same_delivery_has_the_same_id() -> None:
    body = fixture("webhook_reply_sent.json")
    first, retry = parsed(body), parsed(json.loads(json.dumps(body)))
    assert first.delivery_id == retry.delivery_id
    assert first.delivery_id.startswith(f"freshdesk:{first.ticket_id}:")


def test_formatting_and_key_order_do_not_change_the_id() -> None:
    body = fixture("webhook_reply_sent.json")["freshdesk_webhook"]
    reordered = dict(reversed(list(body.items())))
    spaced = json.dumps({"freshdesk_webhook": reordered}, indent=4).encode()
    assert parse_event(spaced, NOW).event == parse_event(body_of({"freshdesk_webhook": body}), NOW).event


@pytest.mark.parametrize(
    "change",
    [
        {"updated_at": "2026-03-09 14:48:28 UTC"},  # the customer's next reply, a second later
        {"triggered_event": "{note_type:public}"},  # another event in the same save
        {"ticket_id": "4822"},
    ],
)
def test_distinct_events_get_distinct_ids(change: dict[str, str]) -> None:
    body = fixture("webhook_reply_sent.json")
    other = {"freshdesk_webhook": {**body["freshdesk_webhook"], **change}}
    assert parsed(body).delivery_id != parsed(other).delivery_id


def test_without_a_moment_every_delivery_is_unique_so_no_event_is_ever_dropped() -> None:
    minimal = fixture("webhook_minimal.json")
    ids = {parsed(minimal).delivery_id for _ in range(3)}
    assert len(ids) == 3


def test_triggered_at_counts_as_the_moment_too() -> None:
    body = {"freshdesk_webhook": {"ticket_id": "9", "triggered_event": "{reply_sent:sent}", "triggered_at": "x"}}
    assert parsed(body).delivery_id == parsed(body).delivery_id


def test_delivery_id_is_a_valid_dedupe_key() -> None:
    key = delivery_id("4821", fixture("webhook_reply_sent.json")["freshdesk_webhook"])
    prefix, ticket, digest = key.split(":")
    assert (prefix, ticket) == ("freshdesk", "4821") and len(digest) == 40 and digest.isalnum()


# --- moments -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-09 14:02:11 UTC", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),
        ("2026-03-09 19:32:11 +0530", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),
        ("2026-03-09 09:02:11 -05:00", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),
        ("2026-03-09T14:02:11Z", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),
        ("2026-03-09T14:02:11.250Z", datetime(2026, 3, 9, 14, 2, 11, 250000, tzinfo=UTC)),
        ("2026-03-09 14:02", datetime(2026, 3, 9, 14, 2, tzinfo=UTC)),
        ("Mon, 09 Mar 2026 14:02:11 +0000", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),
        ("1773064931", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),
        ("1773064931000", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),
    ],
)
def test_moments_are_read_in_every_rendering(text: str, expected: datetime) -> None:
    assert parse_moment(text) == expected


@pytest.mark.parametrize(
    "text", ["", "soon", "2026-13-45 99:99:99 UTC", None, "{{ticket.modified_on}}", "9" * 40, "Mon, 99 Foo 2026"]
)
def test_unreadable_moments_are_none(text: str | None) -> None:
    assert parse_moment(text) is None


def test_an_unreadable_moment_falls_back_to_now_but_still_dedupes() -> None:
    body = hook(triggered_event="{reply_sent:sent}", updated_at="March 9th, afternoon")
    first, retry = parsed(body), parsed(body)
    assert first.occurred_at == NOW and first.delivery_id == retry.delivery_id
