"""Ownership with the shipped playbook, end to end on both vendors (real receiver, Redis, RQ worker, timers,
fake help desks): an agent's escalation keeps the agent on the ticket; a bounce goes to the leads with its
trail; after the leads decide, a breach keeps its note and priority bump though its move is held back; a
security ticket breaches its team's SLA and goes to the team's lead; pending without a question stops no
clock, and a ticket put on pause four times is flagged to the leads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from escalator.fakedesk.freshdesk import OWN_AGENT_ID, FakeFreshdesk
from escalator.fakedesk.zendesk import FakeZendesk
from tests.support import TENANT as ZENDESK_TENANT
from tests.support import Pipeline
from tests.support_freshdesk import TENANT as FRESHDESK_TENANT
from tests.support_freshdesk import FreshdeskPipeline
from tests.support_vendors import VENDORS, let_time_pass, vendor_pipeline

STATUS = {"open": 2, "pending": 3}
"""Freshdesk's status numbers for the common statuses the tests set."""
TIER_1, TIER_2, SECURITY, LEADS = 101, 102, 203, 301
"""The fakes' groups (fakedesk.base.DEFAULT_GROUPS): the shipped playbook's tiers, teams and leads."""


@dataclass
class Desk:
    """What a test does to either fake help desk, and what it reads back, in common terms."""

    pipe: Pipeline | FreshdeskPipeline
    tenant: str
    open_ticket: Callable[..., int]
    note: Callable[[int, str], object]
    move: Callable[[int, int], object]
    group: Callable[[int], int]
    priority: Callable[[int], str]
    internal_notes: Callable[[int], list[str]]
    owners_told: Callable[[int], list[str]]
    """Zendesk: the ticket's follower ids; Freshdesk: the emails our notes notified."""
    reply: Callable[[int, str], object]
    """A person's public reply to the customer."""
    set_status: Callable[[int, str], object]
    """An agent sets a common status (open, pending)."""
    tags: Callable[[int], list[str]]

    def let_time_pass(self, seconds: float) -> int:
        return let_time_pass(self.pipe, self.tenant, seconds)


def zendesk_desk(pipe: Pipeline) -> Desk:
    fake: FakeZendesk = pipe.desk
    requester = fake.add_user("Grace Hopper", "grace@globex.example")

    def open_ticket(subject: str, description: str, priority: str = "normal") -> int:
        return int(fake.create_ticket(subject, description, requester, priority=priority)["id"])

    def ours(ticket_id: int) -> list[str]:
        return [c["body"] for c in fake.comments[ticket_id] if not c["public"] and c["author_id"] == 900]

    return Desk(
        pipe, ZENDESK_TENANT, open_ticket,
        note=lambda ticket_id, body: fake.add_comment(ticket_id, body, public=False, author_id=901),
        move=lambda ticket_id, group: fake.agent_update(ticket_id, group_id=group),
        group=lambda ticket_id: int(fake.tickets[ticket_id]["group_id"]),
        priority=lambda ticket_id: str(fake.tickets[ticket_id]["priority"]),
        internal_notes=ours,
        owners_told=lambda ticket_id: [str(user) for user in fake.tickets[ticket_id]["follower_ids"]],
        reply=lambda ticket_id, body: fake.add_comment(ticket_id, body, public=True, author_id=901),
        set_status=lambda ticket_id, status: fake.agent_update(ticket_id, status=status),
        tags=lambda ticket_id: list(fake.tickets[ticket_id]["tags"]),
    )  # fmt: skip


def freshdesk_desk(pipe: FreshdeskPipeline) -> Desk:
    fake: FakeFreshdesk = pipe.desk
    requester = fake.add_contact("Grace Hopper", "grace@globex.example")
    priorities = {1: "low", 2: "normal", 3: "high", 4: "urgent"}

    def open_ticket(subject: str, description: str, priority: str = "normal") -> int:
        return int(fake.create_ticket(subject, description, requester, priority=priority)["id"])

    def ours(ticket_id: int) -> list[dict[str, Any]]:
        return [c for c in fake.conversations[ticket_id] if c["user_id"] == OWN_AGENT_ID and c["private"]]

    return Desk(
        pipe, FRESHDESK_TENANT, open_ticket,
        note=lambda ticket_id, body: fake.agent_note(ticket_id, body),
        move=lambda ticket_id, group: fake.agent_update(ticket_id, group_id=group),
        group=lambda ticket_id: int(fake.tickets[ticket_id]["group_id"]),
        priority=lambda ticket_id: priorities[int(fake.tickets[ticket_id]["priority"])],
        internal_notes=lambda ticket_id: [c["body_text"] for c in ours(ticket_id)],
        owners_told=lambda ticket_id: [email for c in ours(ticket_id) for email in c.get("notified_to", [])],
        reply=lambda ticket_id, body: fake.agent_reply(ticket_id, body),
        set_status=lambda ticket_id, status: fake.agent_update(ticket_id, status=STATUS[status]),
        tags=lambda ticket_id: list(fake.tickets[ticket_id]["tags"]),
    )  # fmt: skip


@pytest.fixture(params=VENDORS)
def desk(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Desk]:
    for pipe, _tenant in vendor_pipeline(request.param, redis_url):
        yield zendesk_desk(pipe) if isinstance(pipe, Pipeline) else freshdesk_desk(pipe)


def test_an_agents_escalation_keeps_the_agent_on_and_a_bounce_goes_to_the_leads_with_its_trail(desk: Desk) -> None:
    ticket = desk.open_ticket("The app crashes on export", "Every export crashes since Monday.", "high")
    desk.pipe.settle()
    desk.note(ticket, "Crash reproduced, needs a specialist")
    desk.move(ticket, TIER_2)
    desk.pipe.settle()
    handoff = desk.internal_notes(ticket)[-1]
    assert "to Technical Specialists from Frontline Support" in handoff and "Crash reproduced" in handoff
    assert desk.owners_told(ticket) in (["901"], ["alex@acme.example"]), "the escalating agent stays on"

    desk.move(ticket, TIER_1)  # straight back down: a return to a group it left
    desk.pipe.settle()
    assert desk.group(ticket) == LEADS
    trail = desk.internal_notes(ticket)[-1]
    assert "Trail: Frontline Support -> Technical Specialists -> Frontline Support -> Support Leads" in trail

    desk.move(ticket, TIER_1)  # the leads decide: Tier 1 owns it
    desk.pipe.settle()
    assert desk.group(ticket) == TIER_1, "a lead's decision is not another bounce"
    assert desk.let_time_pass(75 * 60) > 0  # L1's 1-hour first response target for a high ticket passes
    assert desk.group(ticket) == TIER_1, "Tier 2 had it already: the breach's move is held back"
    assert desk.priority(ticket) == "urgent", "the breach's priority bump is not lost"
    notes = desk.internal_notes(ticket)
    assert any("held back the move that rule sla-breach asked for" in note for note in notes)
    assert any(note.startswith("SLA breached") and "stays with Frontline Support" in note for note in notes)


def test_a_security_ticket_breaches_its_team_sla_and_goes_to_the_lead(desk: Desk) -> None:
    ticket = desk.open_ticket("Data breach: our export was leaked", "Please act now.")
    desk.pipe.settle()
    assert desk.group(ticket) == SECURITY and desk.priority(ticket) == "urgent"
    assert desk.let_time_pass(16 * 60) > 0  # security, urgent: first response within 15 minutes, 24x7
    assert desk.group(ticket) == LEADS
    assert any(
        note.startswith("SLA breached: the first response target for Security") for note in desk.internal_notes(ticket)
    )


def test_pending_without_a_question_keeps_the_clock_running_and_four_pauses_are_flagged(desk: Desk) -> None:
    parked = desk.open_ticket("Reports are slow", "Since Monday.", "high")
    desk.pipe.settle()
    desk.set_status(parked, "pending")  # no question to the customer: the clock must not stop
    desk.pipe.settle()
    assert desk.let_time_pass(61 * 60) > 0  # L1, high: first response within 1 hour
    assert desk.group(parked) == TIER_2 and desk.priority(parked) == "urgent", "breached while parked"

    toggled = desk.open_ticket("Export question", "Which format?")
    desk.pipe.settle()
    for round_ in range(4):
        desk.reply(toggled, f"Could you tell us more ({round_})?")
        desk.set_status(toggled, "pending")
        desk.pipe.settle()
        desk.set_status(toggled, "open")
        desk.pipe.settle()
    assert "escalator_pause_suspicious" in desk.tags(toggled)
    flagged = [note for note in desk.internal_notes(toggled) if note.startswith("For Support Leads")]
    assert len(flagged) == 1 and "put on pending or on hold 4 times" in flagged[0]
