"""The shipped policy (DESIGN.md §6): each fixed behaviour, checked through the loader and the engine."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from escalator.rules.engine import evaluate, humanize
from escalator.rules.loader import load_policy_file
from escalator.rules.model import PRIORITIES, Comment, Organization, Person, Ticket, TicketEvent, format_instant
from escalator.rules.plan import Plan, apply_plan
from escalator.rules.state import TicketState

SEED_FILE = resources.files("escalator.rules").joinpath("seed-policy.json")
POLICY = load_policy_file(str(SEED_FILE))
T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
GRACE = Person(id="u-2", name="Grace Hopper", email="grace@example.com", locale="en")
ENTERPRISE = Organization(id="o-1", name="Acme Corp", tags=("enterprise",))
HOUR = 3600


def ticket(**fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": "7",
        "subject": "Question about reports",
        "description": "How do I schedule a weekly report?",
        "priority": "normal",
        "group_name": "Tier 1",
        "requester": GRACE,
        "created_at": T0,
    }
    values.update(fields)
    return Ticket(**values)


def run_all(ticket_now: Ticket, events: list[TicketEvent]) -> tuple[list[Plan], TicketState]:
    """Evaluate events in order on one ticket, chained as plugin.processing chains them."""
    state, plans = TicketState(), []
    for event in events:
        decision = evaluate(POLICY, state, ticket_now, event)
        state = decision.state
        plans.append(decision.plan)
        ticket_now = apply_plan(ticket_now, decision.plan)
    return plans, state


def run(ticket_now: Ticket, events: list[TicketEvent]) -> tuple[Plan, TicketState]:
    """The plan of the last event and the final state."""
    plans, state = run_all(ticket_now, events)
    return plans[-1], state


def created(at: datetime = T0) -> TicketEvent:
    return TicketEvent("created", "ticket.created", "7", at)


def comment(body: str, *, public: bool = True, author: str = "requester", at: datetime = T0) -> TicketEvent:
    return TicketEvent(f"c-{body}", "comment.added", "7", at, comment=Comment(body, public, author))


def timer(trigger: str, anchor: str, at: datetime) -> TicketEvent:
    return TicketEvent(
        f"t-{trigger}", "timer.elapsed", "7", at, source="timer", detail={"trigger": trigger, "anchor_value": anchor}
    )


def trigger_by_id(trigger_id: str) -> Any:
    return next(trigger for trigger in POLICY.triggers if trigger.id == trigger_id)


# --- tiers, teams, segments --------------------------------------------------------------------------------


def test_tiers_and_teams_with_their_help_desk_groups() -> None:
    assert [(u.id, u.name, u.group) for u in POLICY.tiers] == [
        ("L1", "Frontline Support", "Tier 1"),
        ("L2", "Technical Specialists", "Tier 2"),
        ("L3", "Expert & Engineering", "Tier 3"),
    ]
    assert [(u.id, u.group) for u in POLICY.teams] == [
        ("finance", "Finance"),
        ("legal", "Legal"),
        ("security", "Security"),
    ]


def test_the_enterprise_segment_is_the_organization_tag() -> None:
    assert [segment.id for segment in POLICY.segments] == ["enterprise"]
    _, state = run(ticket(organization=ENTERPRISE), [created()])
    assert state.tier == "L2"
    _, state = run(ticket(organization=replace(ENTERPRISE, tags=("smb",))), [created()])
    assert state.tier == "L1"


def test_a_freshdesk_company_with_the_enterprise_account_tier_is_enterprise_too() -> None:
    company = Organization(id="c-1", name="Initech", fields={"account_tier": "Enterprise"})
    _, state = run(ticket(organization=company), [created()])
    assert state.tier == "L2"
    _, state = run(ticket(organization=replace(company, fields={"account_tier": "Growth"})), [created()])
    assert state.tier == "L1"


# --- keyword triggers --------------------------------------------------------------------------------------

KEYWORDS = [
    ("outage", "L2", "urgent"),
    ("cannot log in", "L2", "urgent"),
    ("can't log in", "L2", "urgent"),
    ("security breach", "security", "urgent"),
    ("legal", "legal", "normal"),
    ("billing error", "finance", "normal"),
]


@pytest.mark.parametrize(("phrase", "unit", "priority"), KEYWORDS)
def test_keywords_on_a_new_ticket(phrase: str, unit: str, priority: str) -> None:
    plan, state = run(ticket(description=f"Hello, we have a {phrase} here."), [created()])
    assert plan.unit is not None and plan.unit.id == unit
    assert (plan.priority or "normal") == priority
    assert [(c.public, c.body != "") for c in plan.comments] == [(True, True), (False, True)]
    handoff = plan.comments[1].body
    rule = state.escalations[-1].rule
    assert f'Rule: {rule} (matched "{phrase}")' in handoff
    assert state.escalations[-1].matched == phrase


@pytest.mark.parametrize(("phrase", "unit", "priority"), KEYWORDS)
def test_keywords_in_a_new_public_comment(phrase: str, unit: str, priority: str) -> None:
    plan, _ = run(ticket(), [created(), comment(f"Update: {phrase.upper()}!", at=T0 + timedelta(minutes=5))])
    assert plan.unit is not None and plan.unit.id == unit
    assert [c.public for c in plan.comments] == [True, False]


@pytest.mark.parametrize(("phrase", "unit", "priority"), KEYWORDS)
def test_keywords_in_a_private_note_do_nothing(phrase: str, unit: str, priority: str) -> None:
    plan, state = run(
        ticket(), [created(), comment(phrase, public=False, author="agent", at=T0 + timedelta(minutes=5))]
    )
    assert plan == Plan()
    assert state.tier == "L1"


def test_the_keywords_are_the_design_ones() -> None:
    phrases = {
        phrase
        for trigger_data in json.loads(SEED_FILE.read_text(encoding="utf-8"))["triggers"]
        for phrase in _phrases(trigger_data.get("if"))
    }
    assert phrases == {phrase for phrase, _, _ in KEYWORDS}


def _phrases(node: Any) -> list[str]:
    if not isinstance(node, dict):
        return []
    found = [p for child in node.get("all", []) + node.get("any", []) for p in _phrases(child)]
    if node.get("operator") == "contains_any":
        found.extend(node["value"])
    return found


# --- time triggers -----------------------------------------------------------------------------------------


def test_idle_triggers_count_from_the_last_update() -> None:
    assert (trigger_by_id("enterprise-idle").after, trigger_by_id("enterprise-idle").since) == (30 * 60, "updated")
    assert (trigger_by_id("standard-idle").after, trigger_by_id("standard-idle").since) == (4 * HOUR, "updated")
    assert (trigger_by_id("unassigned-fuse").after, trigger_by_id("unassigned-fuse").since) == (15 * 60, "tier_entered")
    assert (trigger_by_id("progress-update").after, trigger_by_id("progress-update").since) == (
        4 * HOUR,
        "public_reply",
    )


def test_an_idle_enterprise_ticket_moves_up_after_30_minutes() -> None:
    enterprise = ticket(organization=ENTERPRISE)
    plans, state = run_all(
        enterprise, [created(), timer("enterprise-idle", format_instant(T0), T0 + timedelta(minutes=30))]
    )
    assert [plan.unit.id if plan.unit else None for plan in plans] == ["L2", "L3"]  # direct L2, then idle -> L3
    assert state.fired == {"enterprise-idle": format_instant(T0)}
    # The standard 4-hour rule is not for enterprise customers.
    plan, _ = run(enterprise, [created(), timer("standard-idle", format_instant(T0), T0 + timedelta(hours=4))])
    assert plan == Plan()


def test_an_idle_standard_ticket_moves_up_after_4_hours() -> None:
    plan, _ = run(ticket(), [created(), timer("standard-idle", format_instant(T0), T0 + timedelta(hours=4))])
    assert plan.unit is not None and plan.unit.id == "L2"
    plan, _ = run(ticket(), [created(), timer("enterprise-idle", format_instant(T0), T0 + timedelta(minutes=30))])
    assert plan == Plan()


@pytest.mark.parametrize(("priority", "fires"), [("urgent", True), ("high", True), ("normal", False), ("low", False)])
def test_priority_fuse_for_unassigned_l2_tickets(priority: str, fires: bool) -> None:
    in_l2 = ticket(group_name="Tier 2", priority=priority)
    plan, _ = run(in_l2, [created(), timer("unassigned-fuse", format_instant(T0), T0 + timedelta(minutes=15))])
    assert (plan.unit.id if plan.unit else None) == ("L3" if fires else None)


# --- SLAs --------------------------------------------------------------------------------------------------

SLA_TABLE = {
    ("L1", "low"): ("24h", "72h"),
    ("L1", "normal"): ("8h", "48h"),
    ("L1", "high"): ("1h", "24h"),
    ("L1", "urgent"): ("30m", "8h"),
    **{("L2", priority): ("30m", "8h") for priority in PRIORITIES},
    **{("L3", priority): ("15m", "4h") for priority in PRIORITIES},
}


def _seconds(text: str) -> int:
    return int(text[:-1]) * {"m": 60, "h": HOUR}[text[-1]]


@pytest.mark.parametrize(("tier", "priority"), sorted(SLA_TABLE))
def test_sla_targets_for_every_tier_and_priority(tier: str, priority: str) -> None:
    sla = POLICY.sla_for(tier, priority, ())
    assert sla is not None
    first, resolution = SLA_TABLE[(tier, priority)]
    assert dict(sla.targets) == {"first_response": _seconds(first), "resolution": _seconds(resolution)}
    assert sla.warn_at == (0.75,)
    # Enterprise tickets get the same targets: the seed policy has no segment-specific SLA.
    assert POLICY.sla_for(tier, priority, ("enterprise",)) == sla


def test_no_priority_counts_as_normal_and_teams_have_no_sla() -> None:
    assert POLICY.sla_for("L1", None, ()) == POLICY.sla_for("L1", "normal", ())
    assert all(POLICY.sla_for(team.id, "urgent", ()) is None for team in POLICY.teams)


def test_sla_warning_is_an_internal_note() -> None:
    warning = TicketEvent(
        "w",
        "sla.warning",
        "7",
        T0 + timedelta(hours=6),
        source="timer",
        detail={"metric": "first_response", "tier": "L1", "fraction": 0.75, "due": "x"},
    )
    plan, _ = run(ticket(), [created(), warning])
    assert [c.public for c in plan.comments] == [False]
    assert plan.unit is None and plan.priority is None
    assert "75%" in plan.comments[0].body


def test_sla_breach_moves_up_one_tier_and_one_priority() -> None:
    breach = TicketEvent(
        "b",
        "sla.breached",
        "7",
        T0 + timedelta(hours=1),
        source="timer",
        detail={"metric": "first_response", "tier": "L1", "fraction": 1.0},
    )
    plan, _ = run(ticket(priority="high"), [created(), breach])
    assert plan.unit is not None and plan.unit.id == "L2"
    assert plan.priority == "urgent"


# --- templates ---------------------------------------------------------------------------------------------


def test_the_guide_templates_exist() -> None:
    assert {"initial_escalation", "internal_handoff", "progress_update", "resolution_summary"} <= set(POLICY.templates)


def test_initial_escalation_acknowledges_says_who_and_when() -> None:
    plan, _ = run(ticket(subject="Outage in EU"), [created()])
    reply = plan.comments[0].body
    target = POLICY.sla_for("L2", "urgent", ())
    assert target is not None
    assert reply.startswith("Hi Grace, thanks for your patience.")
    assert "Technical Specialists team" in reply
    assert f"within {humanize(target.targets['first_response'])}" in reply


def test_the_handoff_note_gives_the_context() -> None:
    org_ticket = ticket(subject="Outage in EU", description="All EU users see a 502.", organization=ENTERPRISE)
    plan, _ = run(org_ticket, [created()])
    note = plan.comments[1].body
    for expected in (
        "Escalating ticket #7 to Technical Specialists from Frontline Support.",
        'Rule: outage-or-login (matched "outage").',
        "Grace Hopper <grace@example.com>, Acme Corp [enterprise]",
        "Priority: urgent.",
        "Issue: Outage in EU",
        "All EU users see a 502.",
    ):
        assert expected in note


def test_progress_update_and_resolution_summary_are_public_replies() -> None:
    events = [
        created(),
        timer("progress-update", format_instant(T0), T0 + timedelta(hours=4)),
        TicketEvent("s", "ticket.solved", "7", T0 + timedelta(hours=5)),
    ]
    _, update, summary = run_all(ticket(subject="Outage in EU"), events)[0]
    assert [(c.public, c.rule) for c in update.comments] == [(True, "progress-update")]
    assert '"Outage in EU"' in update.comments[0].body
    assert [(c.public, c.rule) for c in summary.comments] == [(True, "resolution-summary")]
    assert summary.comments[0].body.startswith("Good news!")


# --- nothing matched, nothing written ----------------------------------------------------------------------


def test_a_ticket_that_matches_nothing_gets_no_write_back() -> None:
    events = [
        created(),
        comment("Thanks, where is the schedule button?", at=T0 + timedelta(minutes=1)),
        comment("It is under Reports > Schedule.", author="agent", at=T0 + timedelta(minutes=2)),
        TicketEvent("u", "ticket.updated", "7", T0 + timedelta(minutes=3), changes={"status": ("new", "open")}),
        TicketEvent("s", "ticket.solved", "7", T0 + timedelta(minutes=4)),
        TicketEvent("r", "ticket.reopened", "7", T0 + timedelta(minutes=5)),
    ]
    state = TicketState()
    for event in events:
        decision = evaluate(POLICY, state, ticket(), event)
        assert not decision.plan.has_writes(), event.kind
        assert decision.plan.reasons == []
        state = decision.state
