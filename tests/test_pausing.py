"""Pause integrity (rules/pausing.py) with the shipped playbook on a virtual clock: a pause stops the SLA
clocks only after a public question to the customer, never for longer than `max_pause` in all, and a ticket
put on pause again and again is flagged to the leads; the KPIs count time paused per agent and unit."""

from __future__ import annotations

from datetime import timedelta

from escalator.plugin.metrics import Window, pause_outliers
from escalator.rules.kpi import kpi_changes
from escalator.rules.pausing import PauseState
from escalator.rules.sla import SlaClock, deadline_of
from escalator.rules.state import TicketState
from tests.test_seed_policy import MONDAY_10AM, POLICY, walk
from tests.walk import AGENT, Walk


def first_response(w: Walk) -> SlaClock:
    return SlaClock.from_dict(w.state.clocks["first_response"])


def pause(w: Walk) -> PauseState:
    return PauseState.from_dict(w.state.pause)


def test_pending_without_a_public_question_keeps_the_clock_running() -> None:
    w = walk(priority="high", assignee_id=AGENT, assignee_name="Alex Agent")
    w.created(MONDAY_10AM)
    w.agent_changes(MONDAY_10AM + timedelta(minutes=10), status="pending")  # parked, nobody asked anything
    assert first_response(w).running_since is not None, "the clock runs"
    assert "nobody replied to the customer in the 15 minutes before the pause" in pause(w).reason
    w.advance(MONDAY_10AM + timedelta(hours=1, minutes=1))
    assert w.state.sla_log[-1]["outcome"] == "breached" and w.state.sla_log[-1]["at"] == "2026-03-09T15:00:00Z"
    assert w.moves() == [(MONDAY_10AM + timedelta(hours=1), "L2")], "a breach while parked moves it as ever"


def test_a_pause_after_a_public_question_stops_the_clock_and_a_late_question_counts_from_then() -> None:
    w = walk(priority="high", assignee_id=AGENT, assignee_name="Alex Agent")
    w.created(MONDAY_10AM)
    w.agent_writes("Which browser do you use?", MONDAY_10AM + timedelta(minutes=10), public=True)
    w.agent_changes(MONDAY_10AM + timedelta(minutes=20), status="pending")  # within 15 minutes of the question
    resolution = SlaClock.from_dict(w.state.clocks["resolution"])
    assert resolution.running_since is None and resolution.elapsed == 20 * 60, "stands still from 10:20"
    assert pause(w).reason == "the clocks stand still: waiting on the customer (pending)"

    late = walk(priority="high")
    late.created(MONDAY_10AM)
    late.agent_changes(MONDAY_10AM + timedelta(minutes=10), status="pending")
    late.agent_writes("Could you send a screenshot?", MONDAY_10AM + timedelta(minutes=30), public=True)
    clock = SlaClock.from_dict(late.state.clocks["resolution"])
    assert clock.running_since is None and clock.elapsed == 30 * 60, "ran until the question, then stood still"


def test_max_pause_lets_the_clocks_run_again_at_that_very_instant() -> None:
    w = walk(priority="high")
    w.created(MONDAY_10AM)
    w.agent_writes("Can you confirm the invoice number?", MONDAY_10AM + timedelta(minutes=5), status="pending")
    assert pause(w).resumes_at == "2026-03-16T14:05:00Z", "7 days of pause in all"
    w.advance(MONDAY_10AM + timedelta(days=7, minutes=6))
    resolution = SlaClock.from_dict(w.state.clocks["resolution"])
    assert resolution.running_since == "2026-03-16T14:05:00Z", "resumed exactly when the allowance ran out"
    assert "paused 7 days in all, the most allowed" in pause(w).reason
    deadline = deadline_of(POLICY, resolution)
    assert deadline is not None and deadline.isoformat() == "2026-03-17T14:00:00+00:00", "24 h target, 5 min used"


def test_a_ticket_put_on_pause_four_times_is_flagged_to_the_leads_once() -> None:
    w = walk(assignee_id=AGENT, assignee_name="Alex Agent")
    w.created(MONDAY_10AM)
    for n in range(5):
        at = MONDAY_10AM + timedelta(hours=n)
        w.agent_writes(f"Question {n}?", at, status="pending")
        w.customer_writes(f"Answer {n}", at + timedelta(minutes=30))
    flagged = [(at, plan) for at, plan in w.log if "escalator_pause_suspicious" in plan.add_tags]
    assert len(flagged) == 1 and flagged[0][0] == MONDAY_10AM + timedelta(hours=3), "the fourth pause, once"
    (note,) = [c.body for c in flagged[0][1].comments]
    assert note.startswith("For Support Leads: this ticket has been put on pending or on hold 4 times")
    assert "(assignee: Alex Agent)" in note and "stood still for 1 hour 30 minutes in all" in note, "3 x 30 min before"


def test_time_paused_is_counted_per_agent_and_unit_and_per_solved_ticket() -> None:
    w = walk(assignee_id=AGENT, assignee_name="Alex Agent")
    w.created(MONDAY_10AM)
    w.agent_writes("Which version?", MONDAY_10AM + timedelta(minutes=5), status="pending")
    before = w.state
    w.customer_writes("Version 7", MONDAY_10AM + timedelta(hours=2, minutes=5))
    changes = kpi_changes(before, w.state)
    assert changes.counts[("2026-03-09", f"paused_seconds_by_agent:{AGENT}")] == 2 * 3600
    assert changes.counts[("2026-03-09", "paused_seconds_by_unit:L1")] == 2 * 3600
    before = w.state
    w.agent_changes(MONDAY_10AM + timedelta(hours=3), status="solved")
    assert ("2026-03-09", "paused_hours", 2.0) in kpi_changes(before, w.state).values
    assert kpi_changes(TicketState(), TicketState()).counts == {}


def test_an_agent_pausing_far_more_than_the_team_is_named_in_the_report() -> None:
    """Per ticket, parking it once looks innocent; across tickets, one agent's share of the paused time shows."""
    window = Window()
    hours = {"101": 3, "102": 4, "103": 5, "104": 40}  # 104 parks many tickets once each
    window.add({f"paused_seconds_by_agent:{agent}": h * 3600 for agent, h in hours.items()}, {})
    outliers = window.kpis()["pause_outliers"]
    assert list(outliers) == ["104"]
    assert outliers["104"] == {"paused_hours": 40.0, "share": round(40 / 52, 4), "times_median": 8.89}
    assert pause_outliers({"101": 3 * 3600, "104": 40 * 3600}) == {}, "two agents make no team to compare with"
    quiet = {agent: h * 360 for agent, h in hours.items()}  # a tenth: 4 h for the busiest
    assert pause_outliers(quiet) == {"104": {"paused_hours": 4.0, "share": round(40 / 52, 4), "times_median": 8.89}}
    assert pause_outliers({agent: h * 300 for agent, h in hours.items()}) == {}, "under 4 hours proves nothing"
