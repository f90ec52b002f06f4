"""Every KPI definition of DESIGN §8 pinned on hand-worked histories (the shipped playbook, a virtual clock):
what rules.kpi adds to the daily aggregates, and what plugin.metrics reports from them."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import redis

from escalator.plugin import keys
from escalator.plugin.metrics import kpi_report, quantiles
from escalator.plugin.queue import EventQueue, Finish
from escalator.plugin.recording import kpi_ops
from escalator.rules.kpi import kpi_changes
from escalator.rules.state import TicketState
from tests.test_seed_policy import MONDAY_10AM, walk
from tests.walk import Walk

DAY = "2026-03-09"


def changes_of(w: Walk, before: TicketState) -> Counter[str]:
    return Counter({name: n for (day, name), n in kpi_changes(before, w.state).counts.items() if day == DAY})


def test_a_keyword_on_a_new_ticket_is_routing_not_an_escalation() -> None:
    w = walk(subject="Outage since 9am", description="Nothing loads.")
    w.created(MONDAY_10AM)
    assert changes_of(w, TicketState()) == Counter(
        {"tickets": 1, "routed": 1, "routed_by_rule:outage-or-login": 1, "moved": 1}
    )


def test_an_agents_escalation_counts_as_one_by_an_agent_and_touches_are_people() -> None:
    w = walk(subject="Export crashes", description="Every export crashes.")
    w.created(MONDAY_10AM)
    for minutes in (1, 2, 3):  # one agent, three comments: one touch
        w.agent_writes(f"note {minutes}", MONDAY_10AM + timedelta(minutes=minutes), public=False)
    before = w.state
    w.agent_changes(MONDAY_10AM + timedelta(minutes=5), group_name="Tier 2")
    assert changes_of(w, before) == Counter(
        {"escalations": 1, "escalated": 1, "by_actor:agent": 1, "by_rule:agent": 1, "by_target:L2": 1, "moved": 1}
    )
    assert w.state.touches == 1 and w.state.agents == ["agent-7"]
    w.agent_writes("done", MONDAY_10AM + timedelta(hours=2), agent="agent-8")
    before = w.state
    w.agent_changes(MONDAY_10AM + timedelta(hours=3), status="solved", agent="agent-8")
    changes = kpi_changes(before, w.state)
    assert changes.counts[(DAY, "solved_escalated")] == 1 and changes.counts[(DAY, "touches")] == 2
    # Resolution time runs from the first escalation (10:05), not from creation (10:00): 2 h 55 min.
    assert (DAY, "resolution_hours", round(175 / 60, 4)) in changes.values
    assert (DAY, "rule_hours:agent", round(175 / 60, 4)) in changes.values
    assert (DAY, "tier_hours:L2", round(175 / 60, 4)) in changes.values


def test_time_in_tier_is_counted_when_a_ticket_leaves_its_tier() -> None:
    w = walk(subject="Export crashes", description="Every export crashes.")
    w.created(MONDAY_10AM)
    before = w.state
    w.agent_changes(MONDAY_10AM + timedelta(minutes=30), group_name="Tier 2")
    assert (DAY, "tier_hours:L1", 0.5) in kpi_changes(before, w.state).values


def test_a_bounce_and_an_sla_breach_are_counted_once() -> None:
    w = walk(subject="Export crashes", description="Every export crashes.")
    w.created(MONDAY_10AM)
    w.agent_changes(MONDAY_10AM + timedelta(minutes=5), group_name="Tier 2")
    before = w.state
    w.agent_changes(MONDAY_10AM + timedelta(minutes=6), group_name="Tier 1")  # back: a bounce, to the leads
    changes = changes_of(w, before)
    assert changes["bounced"] == 1 and changes["by_target:lead"] == 1 and changes["by_actor:rule"] == 1
    again = w.state
    assert changes_of(w, again) == Counter(), "nothing new, nothing counted"
    high = walk(priority="high")
    high.created(MONDAY_10AM)
    before = high.state
    high.advance(MONDAY_10AM + timedelta(hours=1))
    assert changes_of(high, before)["sla:first_response:breached"] == 1


def test_imported_history_counts_the_ticket_but_no_outcome() -> None:
    w = walk(subject="Outage", description="x")
    w.created(MONDAY_10AM)
    assert kpi_changes(TicketState(), w.state, observed_only=True).counts == Counter({(DAY, "tickets"): 1})


def test_quantiles() -> None:
    assert quantiles([]) == {"median": None, "p90": None, "count": 0}
    assert quantiles([4.0, 1.0, 2.0, 3.0]) == {"median": 2.5, "p90": 4.0, "count": 4}
    assert quantiles(range(1, 11)) == {"median": 5.5, "p90": 9, "count": 10}


def test_the_report_adds_up_the_days_asked_for(redis_client: redis.Redis) -> None:
    """Three tickets on two days, written through the same operations the worker writes."""
    stories = []
    for day, subject in ((0, "Outage now"), (0, "How do I print?"), (1, "Export crashes")):
        w = walk(subject=subject, description="x", created_at=MONDAY_10AM + timedelta(days=day))
        w.created(MONDAY_10AM + timedelta(days=day))
        stories.append(w)
    stories[2].agent_changes(MONDAY_10AM + timedelta(days=1, minutes=5), group_name="Tier 2")
    queue = EventQueue(redis_client)  # the worker's own finish writes the aggregates
    for number, w in enumerate(stories):
        queue.finish("acme", f"story-{number}", 0, Finish(ops=kpi_ops("acme", TicketState(), w.state)))
    report = kpi_report(redis_client, "acme", date(2026, 3, 9), date(2026, 3, 10), by_day=True)
    assert (report["tickets"], report["escalated"], report["routed"]) == (3, 1, 1)
    assert report["escalation_rate"] == round(1 / 3, 4)
    assert report["escalations_by_actor"] == {"rule": 0, "agent": 1}
    assert report["escalations_by_target"] == {"L2": 1} and report["routings_by_rule"] == {"outage-or-login": 1}
    assert [row["day"] for row in report["series"]] == ["2026-03-09", "2026-03-10"]
    assert [(row["tickets"], row["escalated"]) for row in report["series"]] == [(2, 0), (1, 1)]
    only_monday = kpi_report(redis_client, "acme", date(2026, 3, 9), date(2026, 3, 9))
    assert (only_monday["tickets"], only_monday["escalated"], only_monday["series"]) == (2, 0, [])
    assert redis_client.ttl(keys.kpi_day("acme", "2026-03-09")) > 300 * 24 * 3600


def test_the_keys_of_the_report_are_design_8s(redis_client: redis.Redis) -> None:
    fixed = {
        "tenant", "tickets", "escalated", "escalation_rate", "routed", "escalations_by_rule", "escalations_by_target",
        "escalations_by_actor", "touches_per_escalated_ticket", "escalated_resolution_hours", "time_in_tier_hours",
        "bounced_tickets", "bounce_rate", "sla", "series",
    }  # fmt: skip
    report = kpi_report(redis_client, "acme", date(2026, 3, 9), date(2026, 3, 9))
    assert fixed <= set(report)
    assert set(report["escalations_by_actor"]) == {"rule", "agent"}
    assert set(report["escalated_resolution_hours"]) == {"median", "p90", "count"}
