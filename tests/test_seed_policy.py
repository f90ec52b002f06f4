"""The shipped playbook (DESIGN.md §6), walked through days on a virtual clock (tests/walk.py): routing,
idle nudges before moves, business hours, enterprise 24x7, breaches, bounces to the leads, owners, and what
the customer and the agents are told, in the requester's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from escalator.rules.loader import load_policy_file
from escalator.rules.model import PRIORITIES, Organization, Person, Ticket
from tests.test_keywords import ROUTE_PHRASES
from tests.walk import AGENT, Walk

SEED_FILE = resources.files("escalator.rules").joinpath("seed-policy.json")
POLICY = load_policy_file(str(SEED_FILE))
NY = "America/New_York"
FRIDAY_4PM = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # Friday 16:00 in New York (EST)
MONDAY_10AM = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # Monday 10:00 EDT (after the DST change)
GRACE = Person(id="u-2", name="Grace Hopper", email="grace@example.com", locale="en-US", time_zone=NY)
ENTERPRISE = Organization(id="o-1", name="Acme Corp", tags=("enterprise",), fields={"account_manager": "am-9"})


def ticket(**fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": "7",
        "subject": "How do I print a report?",
        "description": "Where is the print button?",
        "status": "new",
        "priority": "normal",
        "group_name": "Tier 1",
        "requester": GRACE,
        "created_at": fields.pop("created_at", MONDAY_10AM),
    }
    values.update(fields)
    return Ticket(**values)


def walk(**fields: Any) -> Walk:
    return Walk(POLICY, ticket(**fields))


# --- structure ---------------------------------------------------------------------------------------------


def test_tiers_teams_and_their_lead() -> None:
    assert [(u.id, u.name, u.group, u.lead) for u in POLICY.tiers] == [
        ("L1", "Frontline Support", "Tier 1", "Support Leads"),
        ("L2", "Technical Specialists", "Tier 2", "Support Leads"),
        ("L3", "Expert & Engineering", "Tier 3", "Support Leads"),
    ]
    assert [(u.id, u.group) for u in POLICY.teams] == [
        ("finance", "Finance"),
        ("legal", "Legal"),
        ("security", "Security"),
    ]
    assert [(u.id, u.group, u.kind) for u in POLICY.leads] == [("lead", "Support Leads", "lead")]


@pytest.mark.parametrize("unit", ["L1", "L2", "L3", "finance", "legal", "security"])
def test_a_higher_priority_never_has_a_longer_target(unit: str) -> None:
    for metric in ("first_response", "resolution"):
        targets = []
        for priority in PRIORITIES:
            sla = POLICY.sla_for(unit, priority, ())
            assert sla is not None and metric in sla.targets, (unit, priority)
            targets.append(sla.targets[metric])
        assert targets == sorted(targets, reverse=True), (unit, metric, targets)


@pytest.mark.parametrize(
    ("unit", "priority", "first", "resolution", "business"),
    [
        ("L1", "low", 24, 72, True), ("L1", "normal", 8, 48, True), ("L1", "high", 1, 24, False),
        ("L1", "urgent", 0.5, 8, False), ("L2", "low", 8, 72, True), ("L2", "normal", 4, 48, True),
        ("L2", "high", 0.5, 8, False), ("L2", "urgent", 0.25, 4, False), ("L3", "normal", 4, 24, True),
        ("L3", "high", 1, 8, False), ("finance", "high", 4, 24, True), ("legal", "urgent", 1, 8, False),
        ("security", "low", 4, 48, False), ("security", "urgent", 0.25, 4, False),
    ],
)  # fmt: skip
def test_the_sla_table(unit: str, priority: str, first: float, resolution: float, business: bool) -> None:
    sla = POLICY.sla_for(unit, priority, ())
    assert sla is not None
    assert (sla.targets["first_response"], sla.targets["resolution"]) == (first * 3600, resolution * 3600)
    assert (sla.calendar.name == "business") is business
    assert sla.warn_at == (0.75,)
    enterprise = POLICY.sla_for(unit, priority, ("enterprise",))
    assert enterprise is not None and enterprise.calendar.name == "24x7", "enterprise clocks run 24x7"
    assert enterprise.targets == sla.targets


def test_the_keywords_are_the_corpus_ones_in_route_order() -> None:
    keyword_triggers = [t for t in POLICY.triggers if "comment.added" in t.on and "ticket.created" in t.on]
    routes = [t.actions[0].to for t in keyword_triggers]
    assert routes == list(ROUTE_PHRASES), "security first, then L2, legal, finance (the corpus precedence)"


# --- keywords and routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit", "priority"),
    [
        ("Multiple outages today", "L2", "urgent"),
        ("I cannot login since this morning", "L2", "urgent"),
        ("We think there was a security-breach", "security", "urgent"),
        ("Two billing errors on the March invoice", "finance", "normal"),
        ("A GDPR request for our data", "legal", "normal"),
    ],
)
def test_a_customer_keyword_routes_a_new_ticket(text: str, unit: str, priority: str) -> None:
    w = walk(subject=text, description="Please help.")
    plan = w.created(MONDAY_10AM)
    assert plan.unit is not None and plan.unit.id == unit and w.ticket.priority == priority
    assert w.state.routed and not w.state.escalated, "routing at creation, not an escalation"
    (reply,) = [c for c in plan.comments if c.public]
    (note,) = [c for c in plan.comments if not c.public]
    assert "Grace" in reply.body and plan.unit.name in reply.body
    assert "Handing ticket #7" in note.body


def test_a_negated_keyword_and_an_agents_keyword_do_not_route() -> None:
    w = walk(subject="No outage, just a question", description="How do I export?")
    assert w.created(MONDAY_10AM).unit is None
    plan = w.agent_writes(
        "Checked: this is not an outage, and no security breach either", MONDAY_10AM + timedelta(minutes=5)
    )
    assert plan.unit is None, "an agent's comment never routes"
    plan = w.agent_writes("Customer says: outage everywhere", MONDAY_10AM + timedelta(minutes=6), public=False)
    assert plan.unit is None, "nor does an internal note quoting the customer"


# --- idle, business hours, nudges ---------------------------------------------------------------------------


def test_an_unanswered_ticket_moves_to_l2_after_4_business_hours_not_at_night() -> None:
    w = walk(created_at=FRIDAY_4PM)
    w.created(FRIDAY_4PM)
    monday_noon = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # 12:00 EDT: 1 business hour Friday + 3 on Monday
    w.advance(monday_noon + timedelta(minutes=59))
    assert w.moves() == [(monday_noon, "L2")], "nothing moved over the weekend or at night"
    notice = [c for at, c in w.comments(public=True) if at == monday_noon]
    assert len(notice) == 1 and "Technical Specialists" in notice[0].body


def test_a_routine_ticket_with_an_agent_replying_stays_in_l1() -> None:
    w = walk()
    w.created(MONDAY_10AM)
    w.agent_writes("Hi Grace, it's under File > Print.", MONDAY_10AM + timedelta(minutes=40), assignee_id=AGENT,
                   assignee_name="Alex Agent", status="pending")  # fmt: skip
    w.customer_writes("Thanks, and can I print to PDF?", MONDAY_10AM + timedelta(days=1))
    w.agent_writes("Yes: choose 'Save as PDF'.", MONDAY_10AM + timedelta(days=1, hours=1), status="pending")
    w.agent_changes(MONDAY_10AM + timedelta(days=3), status="solved")
    w.advance(MONDAY_10AM + timedelta(days=7))
    assert w.moves() == [] and w.state.tier == "L1"
    outcomes = [(entry["metric"], entry["outcome"]) for entry in w.state.sla_log]
    assert outcomes == [("first_response", "met"), ("resolution", "met")]


def test_an_assigned_ticket_is_nudged_before_it_is_moved() -> None:
    w = walk(assignee_id=AGENT, assignee_name="Alex Agent")
    w.created(MONDAY_10AM)
    w.advance(MONDAY_10AM + timedelta(hours=4, minutes=1))
    ((at, nudge),) = w.comments(public=False)
    assert at == MONDAY_10AM + timedelta(hours=4) and "Alex Agent" in nudge.body and w.moves() == []
    w.agent_writes("Looking into it", MONDAY_10AM + timedelta(hours=5))  # activity: the window restarts
    w.advance(MONDAY_10AM + timedelta(hours=12))
    assert w.moves() == [], "an agent working on it is never moved"
    tuesday_3pm = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)  # 15:00 + 8 business hours (Mon 15:00-17:00, Tue 9-15)
    w.advance(tuesday_3pm + timedelta(minutes=1))
    assert w.moves() == [(tuesday_3pm, "L2")], "two quiet windows after the activity: then it moves"


def test_an_enterprise_tickets_clocks_run_24x7() -> None:
    late = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)  # Friday 22:00 in New York
    w = walk(organization=ENTERPRISE, created_at=late)
    plan = w.created(late)
    assert plan.unit is not None and plan.unit.id == "L2", "enterprise customers start in L2"
    assert "am-9" in plan.followers, "the account manager stays on the ticket"
    w.advance(late + timedelta(hours=2))
    assert [unit for _, unit in w.moves()][:2] == ["L2", "L3"], "idle at night still moves an enterprise ticket"
    assert w.moves()[1][0] - late == timedelta(minutes=30)


# --- breaches, bounces, agents -------------------------------------------------------------------------------


def test_a_breach_moves_up_raises_priority_notes_and_tells_the_customer() -> None:
    w = walk(priority="high", assignee_id=AGENT, assignee_name="Alex Agent")
    w.created(MONDAY_10AM)
    w.advance(MONDAY_10AM + timedelta(hours=1))
    warnings = [c for at, c in w.comments(public=False) if c.rule == "sla-warning"]
    assert len(warnings) == 1 and "the deadline is Monday, March 9, 2026, 11:00" in warnings[0].body
    assert "10:45" not in warnings[0].body, "the deadline, not the moment the warning fired"
    at, plan = next((at, plan) for at, plan in w.log if any(c.rule == "sla-breach" for c in plan.comments))
    assert at == MONDAY_10AM + timedelta(hours=1) and plan.unit is not None and plan.unit.id == "L2"
    assert plan.priority == "urgent" and "escalator_sla_breached" in plan.add_tags
    assert any(c.public for c in plan.comments), "the customer is told who has it now"


def test_a_security_ticket_breaches_its_team_sla() -> None:
    w = walk(subject="Data breach: our export was leaked", description="Please act now.")
    w.created(MONDAY_10AM)
    w.advance(MONDAY_10AM + timedelta(minutes=16))
    assert [unit for _, unit in w.moves()] == ["security", "lead"], "a team's breach goes to its lead"
    assert w.state.sla_log[-1] == {"metric": "first_response", "unit": "security", "outcome": "breached",
                                   "at": "2026-03-09T14:15:00Z"}  # fmt: skip


def test_a_bounce_goes_to_support_leads_with_its_trail() -> None:
    w = walk(subject="The app crashes on export")
    w.created(MONDAY_10AM)
    w.agent_writes("Crash reproduced, needs a specialist", MONDAY_10AM + timedelta(minutes=5), public=False)
    plan = w.agent_changes(MONDAY_10AM + timedelta(minutes=6), group_name="Tier 2")
    assert w.state.escalations[-1].by == "agent" and w.state.escalations[-1].direction == "up"
    assert w.state.escalations[-1].reason == "Crash reproduced, needs a specialist"
    assert AGENT in plan.followers and any(c.public for c in plan.comments)
    # Back down to Tier 1: a de-escalation, and a return to a group the ticket left, so a bounce (DESIGN §5).
    plan = w.agent_changes(MONDAY_10AM + timedelta(minutes=20), group_name="Tier 1")
    assert [entry.direction for entry in w.state.escalations[-2:]] == ["down", "up"]
    assert plan.unit is not None and plan.unit.group == "Support Leads"
    (trail,) = [c for c in plan.comments if c.rule == "bounce-to-leads" and not c.public]
    assert "Frontline Support -> Technical Specialists -> Frontline Support -> Support Leads" in trail.body
    assert "escalator_bounced" in plan.add_tags


def test_after_the_leads_decide_a_breach_keeps_its_note_and_priority_but_not_the_move() -> None:
    w = walk(subject="The app crashes on export", priority="high", assignee_id=AGENT, assignee_name="Alex Agent")
    w.created(MONDAY_10AM)
    w.agent_writes("Crash reproduced, needs a specialist", MONDAY_10AM + timedelta(minutes=5), public=False)
    handoff = w.agent_changes(MONDAY_10AM + timedelta(minutes=6), group_name="Tier 2")
    assert "to Technical Specialists from Frontline Support" in handoff.comments[-1].body
    w.agent_changes(MONDAY_10AM + timedelta(minutes=10), group_name="Tier 1")  # a bounce: to the leads
    w.agent_changes(MONDAY_10AM + timedelta(minutes=15), group_name="Tier 1", agent="lead-1")  # they decide: L1
    assert w.state.bounces == 1, "a lead placing the ticket is the decision a bounce asks for, not a bounce"
    w.advance(MONDAY_10AM + timedelta(hours=1, minutes=16))
    at, breach = next((at, plan) for at, plan in w.log if any(c.rule == "sla-breach" for c in plan.comments))
    # Back in L1 at 10:15, L1's clock restarted: high priority, first response in 1 hour.
    assert at == MONDAY_10AM + timedelta(hours=1, minutes=15) and breach.unit is None, "L2 had it: the move waits"
    assert breach.priority == "urgent" and "escalator_sla_breached" in breach.add_tags
    notes = [c.body for c in breach.comments if not c.public]
    assert any("held back the move that rule sla-breach asked for" in note for note in notes)
    assert any(note.startswith("SLA breached") and "stays with Frontline Support" in note for note in notes)
    (notice,) = [c.body for c in breach.comments if c.public]
    assert "now a priority for our Frontline Support team" in notice and "has gone to" not in notice


# --- communication ------------------------------------------------------------------------------------------


def test_progress_updates_name_the_next_one_and_the_summary_says_what_was_done() -> None:
    w = walk(subject="Exports fail", description="Every export fails with an error.")
    w.created(MONDAY_10AM)
    w.agent_writes("Reproduced: a timeout in the export job", MONDAY_10AM + timedelta(minutes=4), public=False)
    w.agent_changes(MONDAY_10AM + timedelta(minutes=5), group_name="Tier 2", assignee_id="agent-8", assignee_name="Sam")
    w.agent_writes("We're on it.", MONDAY_10AM + timedelta(minutes=30), agent="agent-8")
    w.advance(MONDAY_10AM + timedelta(hours=4, minutes=31))
    updates = [(at, c) for at, c in w.comments(public=True) if c.rule == "progress-update"]
    assert [at for at, _ in updates] == [MONDAY_10AM + timedelta(hours=4, minutes=30)], "4 business hours of silence"
    # The next one: 4 more business hours, 14:30 -> 17:00 Monday, then 09:00 -> 10:30 Tuesday.
    assert "you'll hear from us again by Tuesday, March 10, 2026, 10:30" in updates[0][1].body
    fixed = "We rolled back the export service; exports work again."
    w.agent_writes(fixed, MONDAY_10AM + timedelta(hours=5), agent="agent-8")
    plan = w.agent_changes(MONDAY_10AM + timedelta(hours=6), status="solved", agent="agent-8")
    (summary,) = [c for c in plan.comments if c.public]
    assert fixed in summary.body and "Exports fail" in summary.body


def test_the_handoff_note_gives_what_the_next_team_needs() -> None:
    org = Organization(id="o-2", name="Globex", fields={"plan": "Premium"})
    w = walk(organization=org, subject="Cannot log in", description="Since 9am, SSO fails for all of us.")
    plan = w.created(MONDAY_10AM)
    (note,) = [c for c in plan.comments if not c.public]
    for expected in ("to Technical Specialists", "from Frontline Support", 'the customer wrote "cannot log in"',
                     "Globex", "Premium plan", "SSO fails", "First response due Monday, March 9, 2026"):  # fmt: skip
        assert expected in note.body, expected
    assert "None" not in note.body


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("es-MX", "Gracias"), ("fr-FR", "Merci"), ("de-DE", "Danke"), ("pt-BR", "Obrigad"), ("it-IT", "Thanks")],
)
def test_the_customer_is_answered_in_their_language(locale: str, expected: str) -> None:
    person = Person(id="u-3", name="Ana Ruiz", email="ana@example.com", locale=locale, time_zone="America/Mexico_City")
    w = Walk(POLICY, ticket(requester=person, subject="Outage", description="Nada funciona."))
    plan = w.created(MONDAY_10AM)
    (reply,) = [c for c in plan.comments if c.public]
    assert expected in reply.body and "None" not in reply.body
