"""SLA clocks: start at tier entry, pause while waiting on the customer, fulfil, re-target, alert once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalator.rules.loader import load_policy
from escalator.rules.model import Comment, Ticket, TicketEvent, format_instant
from escalator.rules.policy import Policy
from escalator.rules.sla import SlaClock, crossed, elapsed_at, next_alert, update_clocks

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York (EST)


def policy(calendar: bool = False) -> Policy:
    spec: dict[str, Any] = {
        "version": 1,
        "calendars": {
            "business": {
                "timezone": "America/New_York",
                "hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
            }
        },
        "tiers": [
            {"id": "L1", "name": "Frontline", "group": "Tier 1"},
            {"id": "L2", "name": "Specialists", "group": "Tier 2"},
        ],
        "slas": [
            {
                "tier": "L1",
                "priority": "high",
                "first_response": "1h",
                "resolution": "24h",
                "warn_at": [0.5, 0.75],
                **({"calendar": "business"} if calendar else {}),
            },
            {
                "tier": "L1",
                "priority": "urgent",
                "first_response": "30m",
                "resolution": "8h",
                **({"calendar": "business"} if calendar else {}),
            },
            {"tier": "L2", "priority": "*", "first_response": "30m", "next_response": "2h", "resolution": "8h"},
        ],
    }
    return load_policy(spec)


def ticket(status: str = "open", priority: str = "high") -> Ticket:
    return Ticket(id="7", subject="Export broken", status=status, priority=priority)


def event(at: datetime, kind: str = "ticket.updated", comment: Comment | None = None) -> TicketEvent:
    return TicketEvent(delivery_id=f"d-{at.timestamp()}", kind=kind, ticket_id="7", occurred_at=at, comment=comment)


def step(
    p: Policy,
    clocks: dict[str, SlaClock],
    at: datetime,
    unit: str = "L1",
    *,
    entered: datetime = T0,
    status: str = "open",
    priority: str = "high",
    kind: str = "ticket.updated",
    comment: Comment | None = None,
    own: bool = False,
) -> dict[str, SlaClock]:
    return update_clocks(
        p,
        clocks,
        unit,
        ticket(status, priority),
        event(at, kind, comment),
        (),
        tier_entered=format_instant(entered),
        own_change=own,
    )


def test_clocks_start_at_tier_entry_and_alert_at_each_threshold_once() -> None:
    p = policy()
    clocks = step(p, {}, T0, kind="ticket.created")
    assert set(clocks) == {"first_response", "resolution"}
    first = clocks["first_response"]
    assert next_alert(p, first) == T0 + timedelta(minutes=30)  # 50 % of 1h
    assert crossed(p, clocks, T0 + timedelta(minutes=29, seconds=59)) == []
    raised = crossed(p, clocks, T0 + timedelta(minutes=30))
    assert [(c.metric, f) for c, f in raised] == [("first_response", 0.5)]
    assert next_alert(p, first) == T0 + timedelta(minutes=45)
    assert [(c.metric, f) for c, f in crossed(p, clocks, T0 + timedelta(hours=1))] == [
        ("first_response", 0.75),
        ("first_response", 1.0),
    ]
    assert crossed(p, clocks, T0 + timedelta(hours=2)) == [], "each threshold is raised once"
    assert next_alert(p, first) is None
    assert next_alert(p, clocks["resolution"]) == T0 + timedelta(hours=12)


def test_pending_ticket_clock_stands_still_and_resumes_on_reopen() -> None:
    p = policy()
    clocks = step(p, {}, T0, kind="ticket.created")
    clocks = step(p, clocks, T0 + timedelta(minutes=10), status="pending")
    assert clocks["first_response"].running_since is None
    assert next_alert(p, clocks["first_response"]) is None
    assert elapsed_at(p, clocks["first_response"], T0 + timedelta(hours=5)) == pytest.approx(600)
    clocks = step(p, clocks, T0 + timedelta(hours=3), status="open")
    # 10 minutes already spent: the 50 % mark (30 min) is 20 minutes after the reopen.
    assert next_alert(p, clocks["first_response"]) == T0 + timedelta(hours=3, minutes=20)


def test_human_agent_public_reply_fulfils_first_response_but_our_own_does_not() -> None:
    p = policy()
    clocks = step(p, {}, T0, kind="ticket.created")
    ours = Comment(body="We escalated your issue", public=True, author="agent", author_id="900")
    clocks = step(p, clocks, T0 + timedelta(minutes=5), kind="comment.added", comment=ours, own=True)
    assert clocks["first_response"].done_at is None
    private = Comment(body="looking", public=False, author="agent", author_id="901")
    clocks = step(p, clocks, T0 + timedelta(minutes=6), kind="comment.added", comment=private)
    assert clocks["first_response"].done_at is None
    human = Comment(body="Hi, on it", public=True, author="agent", author_id="901")
    clocks = step(p, clocks, T0 + timedelta(minutes=7), kind="comment.added", comment=human)
    assert clocks["first_response"].done_at == format_instant(T0 + timedelta(minutes=7))
    assert next_alert(p, clocks["first_response"]) is None
    assert clocks["resolution"].done_at is None


def test_priority_change_retargets_and_keeps_time_spent() -> None:
    p = policy()
    clocks = step(p, {}, T0, kind="ticket.created")
    clocks = step(p, clocks, T0 + timedelta(minutes=10), priority="urgent")
    first = clocks["first_response"]
    assert first.target == 1800 and first.started_at == format_instant(T0)
    # urgent has no warn_at of its own in this policy (the clock keeps the tier's thresholds it started with),
    # so the next alert is the 50 % mark of 30 minutes, counted from tier entry.
    assert next_alert(p, first) == T0 + timedelta(minutes=15)


def test_new_tier_starts_new_clocks_and_next_response_follows_the_requester() -> None:
    p = policy()
    clocks = step(p, {}, T0, kind="ticket.created")
    entered = T0 + timedelta(minutes=20)
    clocks = step(p, clocks, entered, unit="L2", entered=entered)
    assert {c.unit for c in clocks.values()} == {"L2"}
    assert clocks["first_response"].started_at == format_instant(entered)
    question = Comment(body="any news?", public=True, author="requester")
    clocks = step(
        p, clocks, entered + timedelta(hours=1), unit="L2", entered=entered, kind="comment.added", comment=question
    )
    assert next_alert(p, clocks["next_response"]) == entered + timedelta(hours=3)


def test_solving_stops_resolution_and_reopening_resumes_it() -> None:
    p = policy()
    clocks = step(p, {}, T0, kind="ticket.created")
    clocks = step(p, clocks, T0 + timedelta(hours=2), status="solved", kind="ticket.solved")
    assert clocks["resolution"].done_at is not None and next_alert(p, clocks["resolution"]) is None
    clocks = step(p, clocks, T0 + timedelta(hours=10), status="open", kind="ticket.reopened")
    assert clocks["resolution"].done_at is None
    assert next_alert(p, clocks["resolution"]) == T0 + timedelta(hours=20), "2h spent, 12h mark = 10h later"


def test_business_calendar_clock_counts_business_hours_only() -> None:
    p = policy(calendar=True)
    friday_late = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # Fri 16:30 EST
    clocks = step(p, {}, friday_late, entered=friday_late, kind="ticket.created")
    # 50 % of 1 business hour: 30 minutes = Fri 17:00 EST.
    assert next_alert(p, clocks["first_response"]) == datetime(2026, 3, 6, 22, 0, tzinfo=UTC)
    crossed(p, clocks, datetime(2026, 3, 6, 22, 0, tzinfo=UTC))
    # 75 %: 45 minutes -> 15 more business minutes on Monday 09:15 EDT (after the DST change).
    assert next_alert(p, clocks["first_response"]) == datetime(2026, 3, 9, 13, 15, tzinfo=UTC)
