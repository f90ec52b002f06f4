"""One set of scenarios, run through each vendor's real webhook format, the receiver, a real RQ worker on the
private Redis, and each vendor's fake help desk: the same tickets must end in the same tiers and priorities,
with the same replies and notes, whichever help desk the customer wrote to.

Each vendor is driven through a `Rig`: the only vendor-specific code here is how to open a ticket, how to
read the outcome back from the fake, and what an unauthenticated request looks like.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import pytest

from escalator.fakedesk.freshdesk import OWN_AGENT_ID as FRESHDESK_OWN
from escalator.fakedesk.freshdesk import FakeFreshdesk
from escalator.fakedesk.zendesk import OWN_USER_ID as ZENDESK_OWN
from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from tests import support, support_freshdesk

VENDORS = ("zendesk", "freshdesk")
FRESHDESK_PRIORITIES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
"""Freshdesk's numbers, spelt out here so the comparison does not lean on the connector's own table."""


@dataclass(frozen=True)
class Outcome:
    """What a customer and the agents see on a ticket, in vendor-neutral terms."""

    group: str | None
    priority: str | None
    replies: tuple[str, ...]
    notes: tuple[str, ...]


class Rig(Protocol):
    vendor: str
    tenant: str

    def open_ticket(self, name: str, email: str, subject: str, description: str) -> int: ...

    def pending(self) -> list[dict[str, Any]]: ...

    def post(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any: ...

    def deliver_pending(self) -> list[int]: ...

    def work(self) -> None: ...

    def outcome(self, ticket_id: int) -> Outcome: ...

    def write_calls(self, ticket_id: int) -> int: ...

    def state(self, ticket_id: int) -> dict[str, Any]: ...

    def nothing_queued(self) -> bool: ...


class ZendeskRig:
    vendor = "zendesk"
    tenant = support.TENANT

    def __init__(self, pipe: support.Pipeline) -> None:
        self.pipe, self.desk = pipe, pipe.desk

    def open_ticket(self, name: str, email: str, subject: str, description: str) -> int:
        user = self.desk.add_user(name, email)
        return int(self.desk.create_ticket(subject, description, user, priority="normal")["id"])

    def pending(self) -> list[dict[str, Any]]:
        return self.desk.pending_webhooks()

    def post(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return self.pipe.post(payload, headers=headers)

    def deliver_pending(self) -> list[int]:
        return self.pipe.deliver_pending()

    def work(self) -> None:
        self.pipe.work()

    def outcome(self, ticket_id: int) -> Outcome:
        ticket = self.desk.tickets[ticket_id]
        ours = [c for c in self.desk.comments[ticket_id] if c["author_id"] == ZENDESK_OWN]
        return Outcome(
            group=self.desk.groups.get(ticket["group_id"]),
            priority=ticket["priority"],
            replies=tuple(c["body"] for c in ours if c["public"]),
            notes=tuple(c["body"] for c in ours if not c["public"]),
        )

    def write_calls(self, ticket_id: int) -> int:
        return len(self.pipe.writes(ticket_id))

    def state(self, ticket_id: int) -> dict[str, Any]:
        raw = self.pipe.redis.get(keys.state(self.tenant, str(ticket_id)))
        return json.loads(raw) if raw else {}

    def nothing_queued(self) -> bool:
        return self.pipe.redis.zcard(keys.ready(self.tenant)) == 0 and self.pipe.runtime.jobs.count == 0


class FreshdeskRig:
    vendor = "freshdesk"
    tenant = support_freshdesk.TENANT

    def __init__(self, pipe: support_freshdesk.FreshdeskPipeline) -> None:
        self.pipe, self.desk = pipe, pipe.desk

    def open_ticket(self, name: str, email: str, subject: str, description: str) -> int:
        contact = self.desk.add_contact(name, email)
        return int(self.desk.create_ticket(subject, description, contact, priority="normal")["id"])

    def pending(self) -> list[dict[str, Any]]:
        return self.desk.pending_webhooks()

    def post(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return self.pipe.post(payload, headers=headers)

    def deliver_pending(self) -> list[int]:
        return self.pipe.deliver_pending()

    def work(self) -> None:
        self.pipe.work()

    def outcome(self, ticket_id: int) -> Outcome:
        ticket = self.desk.tickets[ticket_id]
        ours = [c for c in self.desk.conversations[ticket_id] if c["user_id"] == FRESHDESK_OWN]
        return Outcome(
            group=self.desk.groups.get(ticket["group_id"]),
            priority=FRESHDESK_PRIORITIES[ticket["priority"]],
            replies=tuple(c["body_text"] for c in ours if not c["private"]),
            notes=tuple(c["body_text"] for c in ours if c["private"]),
        )

    def write_calls(self, ticket_id: int) -> int:
        return len(self.pipe.writes(ticket_id))

    def state(self, ticket_id: int) -> dict[str, Any]:
        return self.pipe.state(ticket_id)

    def nothing_queued(self) -> bool:
        return self.pipe.redis.zcard(keys.ready(self.tenant)) == 0 and self.pipe.runtime.jobs.count == 0


@contextmanager
def rig_for(vendor: str, redis_url: str) -> Iterator[Rig]:
    """A started fake help desk and the whole Escalator pipeline in front of it."""
    if vendor == "zendesk":
        zendesk = FakeZendesk(webhook_secret=support.SECRET, webhook_url="http://unused.invalid/")
        zendesk.start()
        wiring = cast(Generator[support.Pipeline, None, None], support.pipeline(redis_url, zendesk))
        try:
            yield ZendeskRig(next(wiring))
        finally:
            wiring.close()
            zendesk.stop()
    else:
        freshdesk: FakeFreshdesk = support_freshdesk.new_desk()
        freshdesk.start()
        fd_wiring = support_freshdesk.freshdesk_pipeline(redis_url, freshdesk)
        try:
            yield FreshdeskRig(next(fd_wiring))
        finally:
            fd_wiring.close()
            freshdesk.stop()


@pytest.fixture(params=VENDORS)
def rig(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Rig]:
    with rig_for(request.param, redis_url) as built:
        yield built


# --- the scenarios -----------------------------------------------------------------------------------------


def outage(rig: Rig) -> int:
    ticket_id = rig.open_ticket("Jane Doe", "jane@globex.example", "Outage: cannot log in", "Nobody can sign in.")
    assert rig.deliver_pending() == [202]
    rig.work()
    return ticket_id


def billing(rig: Rig) -> int:
    ticket_id = rig.open_ticket(
        "Bob Stone", "bob@globex.example", "Invoice question", "There is a billing error on our March invoice."
    )
    assert rig.deliver_pending() == [202]
    rig.work()
    return ticket_id


def how_to(rig: Rig) -> int:
    ticket_id = rig.open_ticket("Ann Lee", "ann@globex.example", "How do I export a CSV report?", "Where is it?")
    assert rig.deliver_pending() == [202]
    rig.work()
    return ticket_id


def test_outage_goes_to_tier_2_urgent_with_one_reply_and_one_note(rig: Rig) -> None:
    outcome = rig.outcome(outage(rig))
    assert (outcome.group, outcome.priority) == ("Tier 2", "urgent")
    assert len(outcome.replies) == 1 and outcome.replies[0].startswith("Hi Jane, thanks for your patience.")
    assert "Technical Specialists team" in outcome.replies[0] and "within 30 minutes" in outcome.replies[0]
    assert len(outcome.notes) == 1 and 'Rule: outage-or-login (matched "outage")' in outcome.notes[0]


def test_billing_error_goes_to_finance_with_a_note(rig: Rig) -> None:
    outcome = rig.outcome(billing(rig))
    assert (outcome.group, outcome.priority) == ("Finance", "normal")
    assert len(outcome.notes) == 1 and 'Rule: billing-error (matched "billing error")' in outcome.notes[0]
    assert len(outcome.replies) == 1


def test_a_how_to_ticket_gets_no_write_at_all(rig: Rig) -> None:
    ticket_id = how_to(rig)
    assert rig.write_calls(ticket_id) == 0
    assert rig.outcome(ticket_id) == Outcome("Tier 1", "normal", (), ())


def test_a_repeated_delivery_writes_nothing_twice(rig: Rig) -> None:
    ticket_id = rig.open_ticket("Jane Doe", "jane@globex.example", "Outage: cannot log in", "Nobody can sign in.")
    created = rig.pending()[0]
    rig.deliver_pending()
    rig.work()
    calls, before = rig.write_calls(ticket_id), rig.outcome(ticket_id)
    again = rig.post(created)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    rig.work()
    assert rig.write_calls(ticket_id) == calls and rig.outcome(ticket_id) == before


def test_echoes_of_our_own_update_cause_no_further_write(rig: Rig) -> None:
    ticket_id = outage(rig)
    calls, before = rig.write_calls(ticket_id), rig.outcome(ticket_id)
    updated = rig.state(ticket_id)["anchors"]["updated"]
    assert rig.pending(), "the help desk reports our own changes back"
    assert set(rig.deliver_pending()) == {202}
    rig.work()
    assert rig.write_calls(ticket_id) == calls and rig.outcome(ticket_id) == before
    assert not rig.pending(), "processing the echoes wrote nothing that would echo again"
    state = rig.state(ticket_id)
    assert state["touches"] == 0, "our own reply and note are not an agent's touch"
    assert state["anchors"]["updated"] == updated, "our own writes are not activity"


def test_a_request_without_the_secret_is_401_and_nothing_is_queued(rig: Rig) -> None:
    ticket_id = rig.open_ticket("Jane Doe", "jane@globex.example", "Outage: cannot log in", "Nobody can sign in.")
    payload = rig.pending()[0]
    assert rig.post(payload, headers={"Content-Type": "application/json"}).status_code == 401
    assert rig.nothing_queued()
    rig.work()
    assert rig.write_calls(ticket_id) == 0


@pytest.mark.parametrize("scenario", [outage, billing, how_to])
def test_both_vendors_reach_the_same_outcome(redis_url: str, scenario: Any) -> None:
    outcomes: dict[str, Outcome] = {}
    for vendor in VENDORS:
        with rig_for(vendor, redis_url) as rig:
            outcomes[vendor] = rig.outcome(scenario(rig))
    assert outcomes["zendesk"] == outcomes["freshdesk"]


def test_freshdesk_needs_one_call_per_comment_zendesk_one_put_per_comment(redis_url: str) -> None:
    calls = {}
    for vendor in VENDORS:
        with rig_for(vendor, redis_url) as rig:
            calls[vendor] = rig.write_calls(outage(rig))
    assert calls == {"zendesk": 2, "freshdesk": 3}
