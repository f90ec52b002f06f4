"""The engine on hand-built tickets and events: what fires, what is held back, what the state remembers."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalator.rules.engine import Decision, evaluate, humanize, segments_of
from escalator.rules.loader import load_policy, load_policy_file
from escalator.rules.model import Comment, Organization, Person, Ticket, TicketEvent, format_instant
from escalator.rules.plan import Plan, PlannedComment, apply_plan
from escalator.rules.policy import Policy, raise_priority
from escalator.rules.state import TicketState
from escalator.rules.templates import ALL_PLACEHOLDERS
from tests.support import V1_POLICY

SEED = load_policy_file(V1_POLICY)  # the frozen first playbook
T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
ADA = Person(id="u-1", name="Ada Lovelace", email="ada@example.com", locale="en-US")


def seed_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(V1_POLICY.read_text(encoding="utf-8"))
    return data


def seed_with(**changes: Any) -> Policy:
    data = seed_data()
    data.update(copy.deepcopy(changes))
    return load_policy(data)


def make_ticket(**fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": "101",
        "subject": "How do I export a report?",
        "description": "Where is the export button?",
        "status": "new",
        "priority": "normal",
        "group_name": "Tier 1",
        "requester": ADA,
        "created_at": T0,
    }
    values.update(fields)
    return Ticket(**values)


def customer(body: str) -> Comment:
    return Comment(body=body, public=True, author="requester", author_id=ADA.id)


def agent_note(body: str) -> Comment:
    return Comment(body=body, public=False, author="agent", author_id="agent-7")


class Desk:
    """One ticket through successive evaluations, chained the way plugin.processing chains them."""

    def __init__(self, ticket: Ticket, policy: Policy = SEED) -> None:
        self.policy, self.ticket, self.state = policy, ticket, TicketState()
        self.sent = 0

    def event(self, kind: str, at: datetime, **fields: Any) -> TicketEvent:
        self.sent += 1
        return TicketEvent(f"delivery-{self.sent}", kind, self.ticket.id, at, **fields)

    def send(self, kind: str, at: datetime, *, own_change: bool = False, **fields: Any) -> Plan:
        return self.deliver(self.event(kind, at, **fields), own_change=own_change)

    def deliver(self, event: TicketEvent, *, own_change: bool = False) -> Plan:
        decision = evaluate(self.policy, self.state, self.ticket, event, own_change=own_change)
        assert isinstance(decision, Decision)
        self.state = decision.state
        self.ticket = apply_plan(self.ticket, decision.plan)
        return decision.plan

    def agent_moves_to(self, group: str, at: datetime) -> Plan:
        before = self.ticket.group_name
        self.ticket = replace(self.ticket, group_name=group)
        return self.send("ticket.updated", at, changes={"group": (before, group)}, actor_id="agent-7")

    def timer(self, trigger: str, at: datetime, anchor: str, **fields: Any) -> Plan:
        detail = {"trigger": trigger, "anchor_value": anchor}
        return self.send("timer.elapsed", at, detail=detail, **{"source": "timer", **fields})

    def sla(self, kind: str, at: datetime, tier: str, fraction: float = 1.0) -> Plan:
        detail = {"metric": "first_response", "tier": tier, "fraction": fraction, "due": "2026-03-09T15:00:00Z"}
        return self.send(kind, at, detail=detail, source="timer")


def iso(instant: datetime) -> str:
    return format_instant(instant)


def replies(plan: Plan) -> list[PlannedComment]:
    return [comment for comment in plan.comments if comment.public]


def notes(plan: Plan) -> list[PlannedComment]:
    return [comment for comment in plan.comments if not comment.public]


def outage_desk() -> Desk:
    """A ticket the outage rule sent from L1 to L2 at T0."""
    desk = Desk(make_ticket(subject="Outage: cannot log in", description="Nothing loads since 9am."))
    desk.send("ticket.created", T0)
    assert desk.state.tier == "L2"
    return desk


# --- keyword triggers on the seed policy -------------------------------------------------------------------


def test_outage_ticket_goes_to_l2_urgent_with_a_reply_and_a_handoff_note() -> None:
    desk = Desk(make_ticket(subject="Outage: cannot log in", description="Nothing loads since 9am."))
    plan = desk.send("ticket.created", T0)
    assert plan.unit is not None and plan.unit.id == "L2"
    assert plan.unit.group == "Tier 2"
    assert plan.priority == "urgent"
    (reply,) = replies(plan)
    (note,) = notes(plan)
    l2 = SEED.unit("L2")
    assert l2 is not None
    sla = SEED.sla_for("L2", "urgent", ())
    assert sla is not None
    assert reply.body.startswith(f"Hi {ADA.first_name},")
    assert f"our {l2.name} team" in reply.body
    assert f"within {humanize(sla.targets['first_response'])}" in reply.body
    assert 'Rule: outage-or-login (matched "outage")' in note.body
    assert "from Frontline Support" in note.body
    assert (reply.rule, note.rule) == ("outage-or-login", "outage-or-login")
    assert any("outage-or-login" in reason and "matched 'outage'" in reason for reason in plan.reasons)
    assert desk.state.tier == "L2"
    assert [(e.source, e.target, e.rule, e.matched) for e in desk.state.escalations] == [
        ("L1", "L2", "outage-or-login", "outage")
    ]
    assert desk.state.anchors["escalated"] == iso(T0)


def test_curly_apostrophe_lockout_matches_the_admins_phrase() -> None:
    desk = Desk(make_ticket(subject="Help", description="I can\u2019t log in to the dashboard"))
    plan = desk.send("ticket.created", T0)
    assert plan.unit is not None and plan.unit.id == "L2"
    assert desk.state.escalations[0].matched == "can't log in"


def test_a_how_to_ticket_gets_no_write_back() -> None:
    desk = Desk(make_ticket())
    plan = desk.send("ticket.created", T0)
    assert not plan.has_writes()
    assert plan == Plan()
    assert desk.state.tier == "L1"
    assert desk.state.groups == ["L1"]


def test_repeating_outage_on_an_l2_ticket_is_held_back_without_a_second_reply() -> None:
    desk = outage_desk()
    plan = desk.send("comment.added", T0 + timedelta(minutes=5), comment=customer("The outage is still going on"))
    assert not plan.has_writes()
    assert "outage-or-login: held back, already in L2" in plan.reasons
    assert len(desk.state.escalations) == 1


def test_first_escalation_in_file_order_wins() -> None:
    desk = Desk(make_ticket(subject="Security breach causing an outage"))
    plan = desk.send("ticket.created", T0)
    assert plan.unit is not None and plan.unit.id == "security"
    assert plan.priority == "urgent"
    assert len(replies(plan)) == 1 and len(notes(plan)) == 1
    assert {comment.rule for comment in plan.comments} == {"security-breach"}
    assert "outage-or-login: held back, already routed by security-breach" in plan.reasons
    assert desk.state.team == "security"


def test_enterprise_customer_starts_in_l2_without_a_customer_reply() -> None:
    org = Organization(id="o-1", name="Acme", tags=("enterprise",))
    desk = Desk(make_ticket(organization=org))
    plan = desk.send("ticket.created", T0)
    assert plan.unit is not None and plan.unit.id == "L2"
    assert plan.comments == []
    assert plan.priority is None
    assert "enterprise-direct-l2: escalate L1 -> L2" in plan.reasons


@pytest.mark.parametrize(
    ("subject", "team"),
    [("Billing error on my March invoice", "finance"), ("A legal question about our contract", "legal")],
)
def test_specialist_keywords_route_to_their_team(subject: str, team: str) -> None:
    desk = Desk(make_ticket(subject=subject))
    plan = desk.send("ticket.created", T0)
    unit = SEED.unit(team)
    assert unit is not None
    assert plan.unit == unit
    assert plan.priority is None  # only outages and breaches raise the priority
    (reply,) = replies(plan)
    assert f"our {unit.name} team" in reply.body
    assert "as soon as we can" in reply.body  # teams have no SLA in the seed policy
    assert desk.state.team == team and desk.state.tier == "L1"


def test_own_change_plans_nothing_but_records_the_group_trail() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    desk.ticket = replace(desk.ticket, group_name="Tier 2")
    plan = desk.send(
        "comment.added", T0 + timedelta(minutes=1), own_change=True, comment=customer("outage outage outage")
    )
    assert plan == Plan()
    assert desk.state.groups == ["L1", "L2"]
    assert desk.state.tier == "L2"
    assert desk.state.anchors["tier_entered"] == iso(T0 + timedelta(minutes=1))
    assert desk.state.anchors["updated"] == iso(T0)  # our own write is not activity


def test_private_agent_note_with_a_keyword_does_not_fire() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    plan = desk.send("comment.added", T0 + timedelta(minutes=3), comment=agent_note("Could be related to the outage?"))
    assert plan == Plan()
    assert desk.state.tier == "L1"
    assert desk.state.touches == 1
    assert desk.state.anchors["agent_update"] == iso(T0 + timedelta(minutes=3))
    assert "public_reply" not in desk.state.anchors


def test_a_public_customer_comment_with_a_keyword_fires() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    plan = desk.send("comment.added", T0 + timedelta(minutes=3), comment=customer("Now it's a full outage"))
    assert plan.unit is not None and plan.unit.id == "L2"
    assert desk.state.anchors["requester_update"] == iso(T0 + timedelta(minutes=3))


def test_a_keyword_on_an_l3_ticket_does_not_send_it_back_down() -> None:
    desk = Desk(make_ticket(group_name="Tier 3"))
    desk.send("ticket.created", T0)
    assert desk.state.tier == "L3"
    plan = desk.send("comment.added", T0 + timedelta(minutes=2), comment=customer("This outage is costing us"))
    assert not plan.has_writes()
    assert "outage-or-login: held back, L3 is above L2" in plan.reasons
    assert desk.state.tier == "L3"


# --- SLA events --------------------------------------------------------------------------------------------


def test_sla_breach_moves_to_the_next_tier_raises_priority_and_notes() -> None:
    desk = Desk(make_ticket(priority="normal"))
    desk.send("ticket.created", T0)
    plan = desk.sla("sla.breached", T0 + timedelta(hours=8), tier="L1")
    assert plan.unit is not None and plan.unit.id == "L2"
    assert plan.priority == raise_priority("normal") == "high"
    (note,) = notes(plan)
    assert replies(plan) == []
    assert "Rule: sla-breach" in note.body
    assert desk.state.anchors["updated"] == iso(T0)  # a clock firing is not activity


def test_sla_breach_on_an_urgent_ticket_keeps_it_urgent() -> None:
    desk = Desk(make_ticket(priority="urgent"))
    desk.send("ticket.created", T0)
    plan = desk.sla("sla.breached", T0 + timedelta(minutes=30), tier="L1")
    assert plan.unit is not None and plan.unit.id == "L2"
    assert plan.priority is None
    assert desk.ticket.priority == "urgent"


def test_sla_breach_in_the_top_tier_is_held_back() -> None:
    desk = Desk(make_ticket(group_name="Tier 3", priority="high"))
    desk.send("ticket.created", T0)
    plan = desk.sla("sla.breached", T0 + timedelta(minutes=15), tier="L3")
    assert not plan.has_writes()
    assert "sla-breach: held back, no tier above L3" in plan.reasons


def test_a_stale_sla_event_for_a_tier_the_ticket_left_is_ignored() -> None:
    desk = outage_desk()
    plan = desk.sla("sla.breached", T0 + timedelta(hours=8), tier="L1")
    assert not plan.has_writes()
    assert plan.reasons == ["sla.breached for L1 ignored: the ticket is now in L2"]
    assert desk.state.tier == "L2"


def test_sla_warning_posts_an_internal_note_with_the_percentage() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    plan = desk.sla("sla.warning", T0 + timedelta(hours=6), tier="L1", fraction=0.75)
    assert plan.unit is None
    (note,) = notes(plan)
    assert note.rule == "sla-warning"
    assert "75% of the first response target for Frontline Support" in note.body
    # The deadline in words, in the support team's time zone (15:00 UTC is 11:00 in New York): DESIGN §6.
    assert "due Monday, March 9, 2026, 11:00\u202fAM (Eastern Time)" in note.body


# --- bounces -----------------------------------------------------------------------------------------------


def bounced_desk(policy: Policy) -> Desk:
    desk = Desk(make_ticket(subject="Outage since noon"), policy)
    desk.send("ticket.created", T0)
    desk.agent_moves_to("Tier 1", T0 + timedelta(minutes=10))
    assert desk.state.groups == ["L1", "L2", "L1"]
    assert desk.state.bounces == 1 and desk.state.reassignments == 2
    assert desk.state.tier == "L1"
    return desk


def test_an_escalation_back_into_a_group_is_refused_at_max_bounces() -> None:
    """The cap holds back the move only: the trigger's other actions run, and a note says what was held back
    (before, the whole trigger was dropped silently: a bounce froze the ticket)."""
    assert SEED.max_bounces == 1
    desk = bounced_desk(SEED)
    plan = desk.send("comment.added", T0 + timedelta(minutes=20), comment=customer("The outage is back"))
    assert plan.unit is None and desk.ticket.priority == "urgent"
    assert "outage-or-login: held back, L2 already had this ticket (1 bounces; the cap is 1)" in plan.reasons
    assert [action.action for action in plan.actions] == ["reply", "note"], "the rule's other actions ran"
    held = [note for note in notes(plan) if "held back" in note.body]
    assert len(held) == 1 and "L2 already had this ticket" in held[0].body and "L1 -> L2 -> L1" in held[0].body
    assert desk.state.tier == "L1"


def test_a_higher_max_bounces_lets_the_escalation_through_and_counts_it() -> None:
    desk = bounced_desk(seed_with(ownership={"max_bounces": 2}))
    plan = desk.send("comment.added", T0 + timedelta(minutes=20), comment=customer("The outage is back"))
    assert plan.unit is not None and plan.unit.id == "L2"
    assert desk.state.bounces == 2
    assert desk.state.groups == ["L1", "L2", "L1", "L2"]


def test_moving_a_ticket_from_a_team_back_to_a_tier_is_recognised() -> None:
    desk = Desk(make_ticket(subject="Billing error"))
    desk.send("ticket.created", T0)
    assert desk.state.team == "finance"
    desk.agent_moves_to("Tier 1", T0 + timedelta(minutes=5))
    assert (desk.state.tier, desk.state.team) == ("L1", None)
    plan = desk.sla("sla.breached", T0 + timedelta(hours=8), tier="L1")
    assert plan.unit is not None and plan.unit.id == "L2"


# --- elapsed-time triggers ---------------------------------------------------------------------------------


def test_idle_timer_fires_once_per_anchor_value() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    anchor = desk.state.anchors["updated"]
    assert anchor == iso(T0)
    plan = desk.timer("standard-idle", T0 + timedelta(hours=4), anchor)
    assert plan.unit is not None and plan.unit.id == "L2"
    assert [note.rule for note in notes(plan)] == ["standard-idle"]
    assert desk.state.fired["standard-idle"] == anchor
    again = desk.timer("standard-idle", T0 + timedelta(hours=4, seconds=1), anchor)
    assert again == Plan()


def test_idle_timer_does_not_fire_when_the_anchor_moved() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    desk.send("comment.added", T0 + timedelta(hours=1), comment=customer("Any news?"))
    plan = desk.timer("standard-idle", T0 + timedelta(hours=4), iso(T0))
    assert plan == Plan()
    assert "standard-idle" not in desk.state.fired


def test_timer_events_are_never_activity_whatever_their_source() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    plan = desk.timer("standard-idle", T0 + timedelta(hours=4), iso(T0), source="webhook")
    assert plan.unit is not None and plan.unit.id == "L2"
    assert desk.state.anchors["updated"] == iso(T0)


def test_the_anchor_value_may_come_in_any_iso_form() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    plan = desk.timer("standard-idle", T0 + timedelta(hours=4), "2026-03-09T09:00:00-05:00")
    assert plan.unit is not None and plan.unit.id == "L2"
    assert desk.state.fired["standard-idle"] == iso(T0)


@pytest.mark.parametrize("detail", [{"trigger": "standard-idle"}, {"trigger": "standard-idle", "anchor_value": "soon"}])
def test_a_timer_without_a_usable_anchor_value_fires_nothing(detail: dict[str, str]) -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    assert desk.send("timer.elapsed", T0 + timedelta(hours=4), detail=detail, source="timer") == Plan()


def test_a_timer_for_another_trigger_does_not_fire_this_one() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    # enterprise-idle shares the anchor but its condition (enterprise segment) is false.
    assert desk.timer("enterprise-idle", T0 + timedelta(minutes=30), iso(T0)) == Plan()
    assert desk.state.fired == {}


def test_unassigned_fuse_sends_urgent_l2_tickets_to_l3() -> None:
    desk = outage_desk()
    entered = desk.state.anchors["tier_entered"]
    plan = desk.timer("unassigned-fuse", T0 + timedelta(minutes=15), entered)
    assert plan.unit is not None and plan.unit.id == "L3"
    assert "from Technical Specialists" in notes(plan)[0].body


def test_unassigned_fuse_spares_an_assigned_ticket() -> None:
    desk = outage_desk()
    desk.ticket = replace(desk.ticket, assignee_id="agent-7")
    desk.send("ticket.updated", T0 + timedelta(minutes=5), changes={"assignee": (None, "agent-7")})
    plan = desk.timer("unassigned-fuse", T0 + timedelta(minutes=15), desk.state.anchors["tier_entered"])
    assert plan == Plan()
    assert desk.state.anchors["assigned"] == iso(T0 + timedelta(minutes=5))


def test_progress_update_repeats_after_each_silence() -> None:
    desk = outage_desk()
    first_reply = desk.state.anchors["public_reply"]
    assert first_reply == iso(T0)
    later = T0 + timedelta(hours=4)
    plan = desk.timer("progress-update", later, first_reply)
    (update,) = replies(plan)
    assert update.rule == "progress-update"
    assert "our Technical Specialists team is still actively working" in update.body
    assert desk.state.anchors["public_reply"] == iso(later)  # re-armed from this reply
    assert desk.timer("progress-update", later + timedelta(seconds=1), first_reply) == Plan()


# --- solved, locale, anchors -------------------------------------------------------------------------------


def test_resolution_summary_only_for_escalated_tickets() -> None:
    escalated = outage_desk()
    escalated.ticket = replace(escalated.ticket, status="solved")
    plan = escalated.send("ticket.solved", T0 + timedelta(hours=2))
    (summary,) = replies(plan)
    assert summary.rule == "resolution-summary"
    assert escalated.ticket.subject in summary.body

    plain = Desk(make_ticket())
    plain.send("ticket.created", T0)
    plain.ticket = replace(plain.ticket, status="solved")
    assert plain.send("ticket.solved", T0 + timedelta(hours=2)) == Plan()
    assert plain.state.anchors["status_changed"] == iso(T0 + timedelta(hours=2))


def test_the_requesters_locale_picks_the_template_locale() -> None:
    data = seed_data()
    english = data["templates"]["initial_escalation"]
    data["templates"]["initial_escalation"] = {"en": english, "fr": "Bonjour {{ requester.first_name }} !"}
    policy = load_policy(data)
    french = Desk(make_ticket(subject="Panne : outage", requester=replace(ADA, locale="fr-CA")), policy)
    assert replies(french.send("ticket.created", T0))[0].body == "Bonjour Ada !"
    other = Desk(make_ticket(subject="outage", requester=replace(ADA, locale="ja")), policy)
    assert replies(other.send("ticket.created", T0))[0].body.startswith("Hi Ada,")


def test_anchors_only_move_forward() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    desk.send("comment.added", T0 + timedelta(hours=2), comment=customer("second"))
    desk.send("comment.added", T0 + timedelta(hours=1), comment=customer("late delivery of the first"))
    assert desk.state.anchors["updated"] == iso(T0 + timedelta(hours=2))
    assert desk.state.anchors["requester_update"] == iso(T0 + timedelta(hours=2))
    assert desk.state.last_event_at == iso(T0 + timedelta(hours=2))


def test_anchors_compare_as_instants_not_text() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    half_second_later = T0 + timedelta(milliseconds=500)
    desk.send("comment.added", half_second_later, comment=customer("again"))
    assert desk.state.anchors["updated"] == iso(half_second_later)
    assert desk.state.last_event_at == iso(half_second_later)


def test_a_late_ticket_created_does_not_reset_an_escalated_ticket() -> None:
    desk = outage_desk()
    desk.ticket = replace(desk.ticket, group_name=None)  # e.g. the group is not one the policy maps
    desk.send("ticket.created", T0)
    assert desk.state.tier == "L2"
    assert desk.state.groups == ["L1", "L2"]


def test_a_ticket_first_seen_in_an_unmapped_group_starts_in_the_first_tier() -> None:
    desk = Desk(make_ticket(group_name=None, group_id=None))
    desk.send("comment.added", T0, comment=customer("hello"))
    assert desk.state.tier == SEED.tiers[0].id
    assert desk.state.anchors["created"] == iso(T0)
    assert desk.state.anchors["tier_entered"] == iso(T0)


# --- purity, keys, context ---------------------------------------------------------------------------------


def test_evaluate_does_not_change_the_state_it_was_given() -> None:
    state = TicketState()
    ticket = make_ticket(subject="outage")
    event = TicketEvent("d-1", "ticket.created", ticket.id, T0)
    decision = evaluate(SEED, state, ticket, event)
    assert state == TicketState()
    assert decision.state.tier == "L2"


def test_comment_keys_are_stable_across_reruns_of_the_same_event() -> None:
    ticket = make_ticket(subject="outage")
    event = TicketEvent("d-1", "ticket.created", ticket.id, T0)
    first = evaluate(SEED, TicketState(), ticket, event).plan
    second = evaluate(SEED, TicketState(), ticket, event).plan
    assert [c.key for c in first.comments] == [c.key for c in second.comments]
    assert len({c.key for c in first.comments}) == len(first.comments) == 2
    assert all(c.key.startswith("d-1/outage-or-login/") for c in first.comments)


def test_segments_of() -> None:
    enterprise = make_ticket(organization=Organization(name="Acme", tags=("Enterprise",)))
    event = TicketEvent("d", "ticket.created", "101", T0)
    assert segments_of(SEED, enterprise, TicketState(), event) == ("enterprise",)
    assert segments_of(SEED, make_ticket(), TicketState(), event) == ()


def test_every_placeholder_has_a_value_in_the_message_context() -> None:
    data = seed_data()
    data["templates"]["internal_handoff"] = "\n".join(f"{name}={{{{ {name} }}}}" for name in ALL_PLACEHOLDERS)
    desk = Desk(make_ticket(subject="outage"), load_policy(data))
    (note,) = notes(desk.send("ticket.created", T0))
    lines = dict(line.split("=", 1) for line in note.body.splitlines())
    assert set(lines) == set(ALL_PLACEHOLDERS)
    assert lines["rule.id"] == "outage-or-login"
    assert lines["matched"] == "outage"
    assert lines["previous_tier.id"] == "L1"
    assert lines["tier.id"] == "L2"
    assert lines["escalation.target"] == "Technical Specialists", "names, never raw ids, reach people"


def test_later_triggers_see_what_earlier_ones_did() -> None:
    data = seed_data()
    data["triggers"] = [
        {
            "id": "tag-vip",
            "on": ["ticket.created"],
            "if": {"field": "requester.email", "operator": "matches", "value": "@example\\.com$"},
            "then": [{"action": "add_tags", "tags": ["vip"]}, {"action": "assign", "to": "agent-9"}],
        },
        {
            "id": "vip-urgent",
            "on": ["ticket.created"],
            "if": {"field": "tags", "operator": "includes", "value": "vip"},
            "then": [{"action": "set_priority", "value": "+1"}, {"action": "remove_tags", "tags": ["new-customer"]}],
        },
    ]
    desk = Desk(make_ticket(tags=("new-customer",)), load_policy(data))
    plan = desk.send("ticket.created", T0)
    assert plan.add_tags == ["vip"]
    assert plan.remove_tags == ["new-customer"]
    assert plan.assignee == "agent-9"
    assert plan.priority == "high"
    assert desk.ticket.tags == ("vip",)
    assert plan.reasons == [
        "tag-vip: add tags vip",
        "tag-vip: assign to agent-9",
        "vip-urgent: priority normal -> high",
        "vip-urgent: remove tags new-customer",
    ]


def test_changed_operator_reads_the_event_change_set() -> None:
    data = seed_data()
    data["triggers"] = [
        {
            "id": "reprioritised",
            "on": ["ticket.updated"],
            "if": {"field": "priority", "operator": "changed"},
            "then": [{"action": "add_tags", "tags": ["reprioritised"]}],
        },
    ]
    policy = load_policy(data)
    desk = Desk(make_ticket(), policy)
    desk.send("ticket.created", T0)
    assert desk.send("ticket.updated", T0 + timedelta(minutes=1), changes={"status": ("new", "open")}) == Plan()
    plan = desk.send("ticket.updated", T0 + timedelta(minutes=2), changes={"priority": ("normal", "high")})
    assert plan.add_tags == ["reprioritised"]


# --- helpers of the engine and the plan --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (60, "1 minute"),
        (1800, "30 minutes"),
        (3600, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (86_400, "24 hours"),
        (3660, "1 hour 1 minute"),
    ],
)
def test_humanize(seconds: float, text: str) -> None:
    assert humanize(seconds) == text


def test_plan_merge_and_apply() -> None:
    l2, l3 = SEED.unit("L2"), SEED.unit("L3")
    first = Plan(unit=l2, priority="high", add_tags=["a", "b"], comments=[PlannedComment("k1", "x", True, "r")])
    later = Plan(unit=l3, remove_tags=["a"], add_tags=["c"], comments=[PlannedComment("k2", "y", False, "r")])
    first.merge(later)
    assert first.unit == l3
    assert first.priority == "high"
    assert first.add_tags == ["b", "c"]
    assert first.remove_tags == ["a"]
    assert [c.key for c in first.comments] == ["k1", "k2"]
    assert first.has_writes() and not Plan(reasons=["only a reason"]).has_writes()
    applied = apply_plan(make_ticket(tags=("a", "z")), first)
    assert l3 is not None and applied.group_name == l3.group
    assert applied.priority == "high"
    assert applied.tags == ("z", "b", "c")


def test_ticket_state_round_trips_through_a_dict() -> None:
    desk = outage_desk()
    restored = TicketState.from_dict(json.loads(json.dumps(desk.state.to_dict())))
    assert restored == desk.state
    assert restored.routed and not restored.escalated, "a keyword on a new ticket routes it (DESIGN §5)"
    assert TicketState.from_dict({"tier": "L1", "retired_field": 1}).tier == "L1"


def test_enter_group_counts_reassignments_and_bounces() -> None:
    state = TicketState()
    for group in ["L1", "L1", "L2", "L1", None, "L2"]:
        state.enter_group(group)
    assert state.groups == ["L1", "L2", "L1", "L2"]
    assert state.reassignments == 3
    assert state.bounces == 2


def test_policy_lookups() -> None:
    assert [SEED.next_tier(tier) for tier in (None, "L1", "L2")] == [SEED.unit("L1"), SEED.unit("L2"), SEED.unit("L3")]
    assert SEED.next_tier("L3") is None
    assert SEED.next_tier("finance") is None
    assert SEED.unit_for_group("tier 2", None) == SEED.unit("L2")
    assert SEED.unit_for_group(None, "Legal") == SEED.unit("legal")
    assert SEED.unit_for_group("Somewhere else", "77") is None
    assert [raise_priority(p) for p in (None, "low", "normal", "high", "urgent")] == [
        "high",
        "normal",
        "high",
        "urgent",
        "urgent",
    ]


def test_a_closed_ticket_gets_no_plan_whatever_it_says() -> None:
    desk = Desk(make_ticket(subject="Outage: cannot log in", status="closed"))
    plan = desk.send("comment.added", T0, comment=customer("outage again!"))
    assert not plan.has_writes()
    assert plan.reasons == ["comment.added on a closed ticket: nothing can be changed"]


# --- SLA outcomes (the attainment KPI) ---------------------------------------------------------------------


def test_a_first_response_in_time_is_logged_as_met() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)
    reply = Comment(body="Here is how", public=True, author="agent", author_id="agent-7")
    desk.send("comment.added", T0 + timedelta(hours=1), comment=reply)
    assert desk.state.sla_log == [
        {"metric": "first_response", "unit": "L1", "outcome": "met", "at": iso(T0 + timedelta(hours=1))}
    ]


def test_a_breach_raised_by_the_sla_timer_is_logged_once_and_not_later_as_met() -> None:
    desk = Desk(make_ticket())
    desk.send("ticket.created", T0)  # L1 normal: first response 8h
    breach_at = T0 + timedelta(hours=8)
    plan = desk.send(
        "timer.elapsed", breach_at, detail={"timer": "sla:first_response", "sla": "first_response"}, source="timer"
    )
    assert plan.unit is not None and plan.unit.id == "L2", "the seed policy escalates on breach"
    assert {"metric": "first_response", "unit": "L1", "outcome": "breached", "at": iso(breach_at)} in (
        desk.state.sla_log
    )
    reply = Comment(body="Sorry for the wait", public=True, author="agent", author_id="agent-7")
    desk.send("comment.added", breach_at + timedelta(minutes=10), comment=reply)
    outcomes = [
        (entry["unit"], entry["outcome"]) for entry in desk.state.sla_log if entry["metric"] == "first_response"
    ]
    assert outcomes == [("L1", "breached"), ("L2", "met")], "L2's own clock was met by the reply"
