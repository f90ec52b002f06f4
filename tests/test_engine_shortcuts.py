"""What makes a decision cheap must not change it: copies one level deep, kept answers (segments, calendar
additions, group lookups), shared leaves between conditions, clocks brought up to date once."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from escalator.rules.calendar import BusinessCalendar
from escalator.rules.engine import evaluate, segments_of
from escalator.rules.fold import Folded, fold
from escalator.rules.loader import load_policy
from escalator.rules.model import Comment, Ticket, TicketEvent, format_instant, revised
from escalator.rules.policy import Policy
from escalator.rules.state import TicketState
from escalator.rules.telling import babel_locale, when
from tests.test_seed_policy import ENTERPRISE, MONDAY_10AM, POLICY, SEED_FILE
from tests.test_seed_policy import ticket as seed_ticket
from tests.walk import OWN, Walk


def ticket(**fields: Any) -> Ticket:
    """test_seed_policy's ticket, with a login problem (routed to L2) unless told otherwise."""
    values: dict[str, Any] = {"subject": "Cannot log in", "description": "Nobody can sign in.", "priority": "high"}
    values.update(fields)
    return seed_ticket(**values)


def seed_with_triggers(triggers: list[dict[str, Any]]) -> Policy:
    data = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    data.pop("incidents")  # its rule names a trigger replaced here
    data["triggers"] = triggers
    return load_policy(data)


class WatchedWalk(Walk):
    """A walk that checks, at every fold, that the state it hands in comes back unchanged."""

    def _fold(self, event: TicketEvent) -> Any:
        before = json.dumps(self.state.to_dict(), sort_keys=True)
        handed_in = self.state
        plan = super()._fold(event)
        assert json.dumps(handed_in.to_dict(), sort_keys=True) == before, f"{event.kind} changed the state given"
        return plan


def test_no_decision_changes_the_state_it_was_given() -> None:
    """A ticket's whole life: routing, clocks that warn and breach (the alarms mark the clocks), a pause that
    is honored (its `by` grows), the SLA log, an agent's move and a bounce."""
    walk = WatchedWalk(POLICY, ticket(organization=ENTERPRISE))
    walk.created(MONDAY_10AM)
    walk.agent_writes(
        "Looking into it: can you send a screenshot?", MONDAY_10AM + timedelta(minutes=20), status="pending"
    )
    walk.customer_writes("Here it is.", MONDAY_10AM + timedelta(hours=3))
    walk.advance(MONDAY_10AM + timedelta(days=2))  # warnings, breaches, escalations, progress updates
    walk.agent_changes(MONDAY_10AM + timedelta(days=2, hours=1), group_name="Tier 2")
    walk.agent_changes(MONDAY_10AM + timedelta(days=2, hours=2), group_name="Tier 1")
    walk.agent_changes(MONDAY_10AM + timedelta(days=3), status="solved")
    state = walk.state
    assert state.sla_log and state.pause.get("by"), "the walk went through breaches and an honored pause"
    assert any(1.0 in clock.get("alerted", ()) or clock.get("done_at") for clock in state.clocks.values())


def test_revised_is_replace() -> None:
    original = ticket(tags=("a",))
    changed = revised(original, priority="urgent", tags=("a", "b"))
    assert changed == dataclasses.replace(original, priority="urgent", tags=("a", "b"))
    assert original.priority == "high" and original.tags == ("a",)
    event = TicketEvent("d", "comment.added", "9", MONDAY_10AM, comment=Comment("hi", True, "requester"))
    assert revised(event, kind="ticket.escalated") == dataclasses.replace(event, kind="ticket.escalated")
    with pytest.raises(TypeError, match="no field prioritty"):
        revised(original, prioritty="urgent")


def test_segments_that_read_the_state_are_worked_out_every_time() -> None:
    data = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    data["segments"].append({"id": "bounced", "if": {"field": "bounces", "operator": "gte", "value": 1}})
    policy = load_policy(data)
    assert POLICY.segments_follow_ticket and not policy.segments_follow_ticket
    same = ticket(organization=ENTERPRISE)
    event = TicketEvent("d", "ticket.updated", "9", MONDAY_10AM)
    assert segments_of(policy, same, TicketState(), event) == ("enterprise",)
    assert segments_of(policy, same, TicketState(bounces=1), event) == ("enterprise", "bounced")


def test_segments_kept_for_a_ticket_follow_the_ticket_and_the_history_facts() -> None:
    event = TicketEvent("d", "ticket.updated", "9", MONDAY_10AM)
    plain = ticket()
    assert segments_of(POLICY, plain, TicketState(), event) == ()
    assert segments_of(POLICY, plain, TicketState(), event, {"organization.history.critical_90d": 3}) == ("at-risk",)
    assert segments_of(POLICY, plain, TicketState(), event) == ()
    assert segments_of(POLICY, revised(plain, organization=ENTERPRISE), TicketState(), event) == ("enterprise",)
    assert segments_of(POLICY, plain, TicketState(), event) == ()


def test_a_phrase_matched_by_a_rule_that_did_not_fire_does_not_reach_the_next_rule() -> None:
    policy = seed_with_triggers(
        [
            {
                "id": "outage-on-weekends",
                "on": ["ticket.created"],
                "if": {
                    "all": [
                        {"field": "customer_text", "operator": "contains_any", "value": ["cannot log in"]},
                        {"field": "channel", "operator": "is", "value": "weekend-line"},
                    ]
                },
                "then": [{"action": "add_tags", "tags": ["weekend"]}],
            },
            {
                "id": "any-keyword",
                "on": ["ticket.created"],
                "if": {"field": "customer_text", "operator": "contains_any", "value": ["cannot log in", "outage"]},
                "then": [{"action": "escalate", "to": "L2"}],
            },
        ]
    )
    decision = evaluate(policy, TicketState(), ticket(subject="Outage", description="and I cannot log in"), _created())
    (move,) = decision.state.escalations
    assert move.rule == "any-keyword" and move.matched == "outage"
    assert decision.plan.add_tags == []


def test_a_rule_that_acts_is_seen_by_the_next_rules_conditions() -> None:
    policy = seed_with_triggers(
        [
            {
                "id": "first",
                "on": ["ticket.created"],
                "if": {"field": "owner", "operator": "absent"},
                "then": [{"action": "add_follower", "to": "am-1"}],  # the state changes, the ticket does not
            },
            {
                "id": "still-no-owner",
                "on": ["ticket.created"],
                "if": {"field": "owner", "operator": "absent"},
                "then": [{"action": "add_tags", "tags": ["never"]}],
            },
            {
                "id": "owned",
                "on": ["ticket.created"],
                "if": {"field": "owner", "operator": "present"},
                "then": [{"action": "add_tags", "tags": ["owned"]}],
            },
        ]
    )
    decision = evaluate(policy, TicketState(), ticket(), _created())
    assert decision.state.owner == "am-1"
    assert decision.plan.add_tags == ["owned"]


def test_a_fold_of_several_events_is_the_merge_of_its_plans() -> None:
    first = _created()
    second = TicketEvent(
        "d-2", "comment.added", "9", MONDAY_10AM + timedelta(seconds=1), comment=Comment("outage", True, "requester")
    )
    folded: Folded = fold(POLICY, TicketState(), ticket(), [first, second], own_user_id=OWN)
    alone = fold(POLICY, TicketState(), ticket(), [first], own_user_id=OWN)
    assert folded.plan.reasons[: len(alone.plan.reasons)] == alone.plan.reasons
    assert len(folded.plan.reasons) > len(alone.plan.reasons)


def test_calendar_additions_kept_by_argument_answer_as_worked_out() -> None:
    spec = {"timezone": "America/New_York", "hours": {"mon": ["09:00-17:00"], "tue": ["09:00-12:00"]}}
    kept = BusinessCalendar.from_spec("ny", spec)
    start = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    in_paris = start.astimezone(ZoneInfo("Europe/Paris"))
    for seconds in (1.0, 3600, 4 * 3600.5, 8 * 3600, 30 * 3600):
        answer = BusinessCalendar.from_spec("ny", spec).add(start, seconds)  # a calendar that kept nothing
        assert kept.add(start, seconds) == answer
        assert kept.add(in_paris, seconds) == answer  # the same instant, under an equal key
        assert kept.add(start, seconds) == answer
    with pytest.raises(ValueError, match="no time zone"):
        kept.add(start.replace(tzinfo=None), 3600)
    with pytest.raises(ValueError, match="not a finite duration"):
        kept.add(start, float("nan"))


def _created() -> TicketEvent:
    return TicketEvent("d-1", "ticket.created", "9", MONDAY_10AM, actor_id="r-1")


def test_group_lookups_kept_answer_as_searched() -> None:
    units = (*POLICY.tiers, *POLICY.teams, *POLICY.leads)
    for unit in units:
        group = str(unit.group)
        first = next(u for u in units if str(u.group) in (group,) or str(u.group).casefold() == group.casefold())
        for _ in range(2):
            assert POLICY.unit_for_group(group, None) == first
            assert POLICY.unit_for_group(group.upper(), None) == first
            assert POLICY.unit_for_group(None, group) == first
    assert POLICY.unit_for_group("Nobody's group", "777") is None


def test_a_segment_that_asks_what_changed_is_worked_out_for_every_event() -> None:
    data = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    data["segments"].append({"id": "reprioritized", "if": {"field": "priority", "operator": "changed"}})
    policy = load_policy(data)
    assert not policy.segments_follow_ticket
    same = ticket()
    changed = TicketEvent("d-1", "ticket.updated", "7", MONDAY_10AM, changes={"priority": ("normal", "high")})
    plain = TicketEvent("d-2", "ticket.updated", "7", MONDAY_10AM)
    assert segments_of(policy, same, TicketState(), changed) == ("reprioritized",)
    assert segments_of(policy, same, TicketState(), plain) == ()


def test_a_state_without_a_pause_record_is_decided() -> None:
    state = TicketState.from_dict({**TicketState().to_dict(), "pause": None, "status": "open", "tier": "L1"})
    decision = evaluate(POLICY, state, ticket(status="open"), _created())
    assert decision.state.tier == "L2"


def test_the_two_local_times_of_a_fall_back_hour_stay_two_instants() -> None:
    """In a zone with DST, 01:30 before and after the fall-back compare equal as datetimes: what is kept by
    instant must not answer for the other one."""
    new_york = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 1, 30, tzinfo=new_york)
    second = first.replace(fold=1)
    assert first == second and first.astimezone(UTC) != second.astimezone(UTC)
    assert format_instant(first) == "2026-11-01T05:30:00Z"
    assert format_instant(second) == "2026-11-01T06:30:00Z"
    spec = {"timezone": "UTC", "hours": {day: ["00:00-24:00"] for day in ("mon", "sun")}}
    calendar = BusinessCalendar.from_spec("sun", spec)
    assert calendar.add(first, 60) == datetime(2026, 11, 1, 5, 31, tzinfo=UTC)
    assert calendar.add(second, 60) == datetime(2026, 11, 1, 6, 31, tzinfo=UTC)
    english, utc = babel_locale("en-US"), ZoneInfo("UTC")
    assert when(first, english, utc).endswith("5:30\u202fAM (UTC)")
    assert when(second, english, utc).endswith("6:30\u202fAM (UTC)")
