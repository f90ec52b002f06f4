"""Reconciliation: changes whose webhook never arrived are caught up from the export, and acted on once.

Real Redis, a real RQ worker, the fake help desks with their webhooks left undelivered where a test says so.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from escalator.fakedesk.freshdesk import FakeFreshdesk
from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.admin.reconcile import (
    ReconcileBusy,
    Reconciler,
    ReconcileReport,
    due_tenants,
    print_report,
    run_reconciler,
)
from escalator.plugin.app import create_app
from escalator.plugin.cli import main
from escalator.plugin.config import Config
from escalator.plugin.ratelimit import Budget
from escalator.plugin.runtime import Runtime, install
from escalator.rules.engine import evaluate
from escalator.rules.loader import load_policy_file
from escalator.rules.model import Comment, Person, Ticket, TicketEvent, format_instant, parse_instant
from escalator.rules.state import TicketState
from tests.support import TENANT, V1_POLICY, Pipeline, tenant_config
from tests.support_freshdesk import TENANT as FD_TENANT
from tests.support_freshdesk import FreshdeskPipeline, freshdesk_pipeline, new_desk

SEED = load_policy_file(V1_POLICY)
FAST = Budget(limit=10_000, period=60.0)


def reconcile(runtime: Runtime, tenant: str = TENANT, *, dry_run: bool = False) -> ReconcileReport:
    return Reconciler(runtime, tenant, export_budget=FAST).run(dry_run=dry_run)


def journal(pipe: Pipeline | FreshdeskPipeline, tenant: str, ticket_id: int) -> list[str]:
    entries = [json.loads(raw) for raw in pipe.redis.lrange(keys.journal(tenant, str(ticket_id)), 0, -1)]
    return [reason for entry in entries for reason in entry["reasons"]]


def replies(pipe: Pipeline, ticket_id: int) -> list[dict[str, Any]]:
    return [write for write in pipe.writes(ticket_id) if write.get("comment", {}).get("public") is True]


def ago(seconds: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds)


def outage(pipe: Pipeline, at: datetime, subject: str = "Outage: cannot log in") -> int:
    jane = pipe.desk.add_user("Jane Doe", "jane@example.com")
    return int(pipe.desk.create_ticket(subject, "Nobody on our team can sign in.", jane, at=at)["id"])


def after_last_change(pipe: Pipeline, ticket_id: int) -> None:
    """Wait until the ticket's `updated_at` is in the past: the fake, like Zendesk, keeps it to the second and
    moves it a second on for each change within one second, so a burst of writes can run ahead of the clock."""
    updated = parse_instant(pipe.desk.tickets[ticket_id]["updated_at"])
    assert updated is not None
    while datetime.now(UTC) <= updated + timedelta(seconds=1):
        time.sleep(0.05)


def drop_webhooks(pipe: Pipeline | FreshdeskPipeline) -> list[dict[str, Any]]:
    """What the help desk tried to send and never delivered (the receiver was down)."""
    pending = pipe.desk.pending_webhooks()
    pipe.desk._outbox.clear()
    return pending


# --- Zendesk --------------------------------------------------------------------------------------------------------


def test_a_dropped_new_ticket_is_caught_up_and_escalated(pipe: Pipeline) -> None:
    ticket_id = outage(pipe, ago(120))
    assert len(drop_webhooks(pipe)) == 1
    report = reconcile(pipe.runtime)
    assert [(item.ticket_id, item.kinds) for item in report.caught_up] == [(str(ticket_id), ["ticket.created"])]
    pipe.work()
    writes = pipe.writes(ticket_id)
    assert len(writes) == 2 and writes[0]["group_id"] == 102 and writes[0]["priority"] == "urgent"
    assert "Hi Jane" in writes[0]["comment"]["body"] and writes[1]["comment"]["public"] is False


def test_a_change_already_delivered_is_left_alone(pipe: Pipeline) -> None:
    ticket_id = outage(pipe, ago(120))
    pipe.settle()
    assert len(pipe.writes(ticket_id)) == 2
    pipe.desk.export_delay = 0.0  # Escalator's own writes, a second ago, are in the export too
    after_last_change(pipe, ticket_id)
    report = reconcile(pipe.runtime)
    assert report.changed == 1 and report.delivered == 1 and report.events == 0
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 2


def test_a_reconciled_event_queued_beside_the_late_webhook_is_acted_on_once(pipe: Pipeline) -> None:
    ticket_id = outage(pipe, ago(120))
    (late,) = drop_webhooks(pipe)
    assert reconcile(pipe.runtime).events == 1
    assert pipe.post(late).status_code == 202, "the webhook arrives after all, before the worker ran"
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 2
    assert len(replies(pipe, ticket_id)) == 1


def test_a_late_webhook_for_a_change_reconciliation_caught_up_makes_no_second_write(pipe: Pipeline) -> None:
    ticket_id = outage(pipe, ago(120))
    (late,) = drop_webhooks(pipe)
    reconcile(pipe.runtime)
    pipe.work()
    pipe.settle()
    assert len(pipe.writes(ticket_id)) == 2
    assert pipe.post(late).status_code == 202, "a retry after the outage: a new delivery id, so it is queued"
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 2
    assert "ticket.created arrived after reconciliation had caught up on it: observed only" in journal(
        pipe, TENANT, ticket_id
    )


ACKNOWLEDGE = {
    "version": 1,
    "tiers": [{"id": "L1", "name": "Frontline", "group": "Tier 1"}],
    "triggers": [{"id": "ack", "on": ["ticket.created"], "then": [{"action": "reply", "template": "ack"}]}],
    "templates": {"ack": "Thanks {{ requester.first_name }}, we have your request."},
}
"""A rule that only replies: nothing else stops it from replying twice to one change seen twice."""


@pytest.fixture
def acknowledging(redis_url: str, desk: FakeZendesk, tmp_path: Path) -> Iterator[Pipeline]:
    rules = tmp_path / "ack.json"
    rules.write_text(json.dumps(ACKNOWLEDGE))
    connection = redis.Redis.from_url(redis_url)
    runtime = Runtime(Config(tenants={TENANT: tenant_config(desk.base_url, rules_path=rules)}), connection)
    install(runtime)
    yield Pipeline(desk, runtime, create_app(runtime).test_client(), connection)
    install(None)
    connection.close()


@pytest.mark.parametrize("late", [False, True], ids=["same-batch", "after-the-catch-up"])
def test_a_reply_only_rule_replies_once_to_a_change_seen_both_ways(acknowledging: Pipeline, late: bool) -> None:
    pipe = acknowledging
    ticket_id = outage(pipe, ago(120), subject="Printer jammed")
    (webhook,) = drop_webhooks(pipe)
    assert reconcile(pipe.runtime).events == 1
    if late:
        pipe.work()
        pipe.settle()
    assert pipe.post(webhook).status_code == 202
    pipe.work()
    assert [write["comment"]["body"] for write in replies(pipe, ticket_id)] == ["Thanks Jane, we have your request."]


def test_a_dropped_customer_comment_gets_its_keyword_trigger(pipe: Pipeline) -> None:
    jane = pipe.desk.add_user("Jane Doe", "jane@example.com")
    ticket_id = int(pipe.desk.create_ticket("CSV export", "How do I export a report?", jane, at=ago(300))["id"])
    pipe.settle()
    assert pipe.writes(ticket_id) == []
    pipe.desk.customer_comment(ticket_id, "Now we have a full outage!", at=ago(90))
    drop_webhooks(pipe)
    report = reconcile(pipe.runtime)
    assert report.caught_up[0].kinds == ["comment.added", "ticket.updated"]
    pipe.work()
    (reply,) = replies(pipe, ticket_id)
    assert pipe.desk.tickets[ticket_id]["group_id"] == 102 and "Hi Jane" in reply["comment"]["body"]
    assert any("matched 'outage'" in reason for reason in journal(pipe, TENANT, ticket_id))


def test_a_dropped_solve_on_an_escalated_ticket_sends_one_resolution_summary(pipe: Pipeline) -> None:
    ticket_id = outage(pipe, ago(300))
    pipe.settle()
    pipe.desk.export_delay = 0.0
    after_last_change(pipe, ticket_id)  # the agent solves it a moment later, in a later second than our writes
    pipe.desk.agent_update(ticket_id, status="solved")
    drop_webhooks(pipe)
    after_last_change(pipe, ticket_id)
    report = reconcile(pipe.runtime)
    assert report.caught_up[0].kinds == ["ticket.solved"]
    pipe.work()
    summaries = [write for write in replies(pipe, ticket_id) if "resolved" in write["comment"]["body"]]
    assert len(summaries) == 1
    pipe.settle()
    after_last_change(pipe, ticket_id)
    again = reconcile(pipe.runtime)
    pipe.work()
    assert again.events == 0 and len([w for w in replies(pipe, ticket_id) if "resolved" in w["comment"]["body"]]) == 1


def test_two_passes_over_the_same_change_queue_it_once(pipe: Pipeline) -> None:
    outage(pipe, ago(120))
    drop_webhooks(pipe)
    assert reconcile(pipe.runtime).events == 1
    pipe.redis.delete(keys.tenant_key(TENANT, "reconcile"))  # a second pass over the same window
    assert reconcile(pipe.runtime).events == 0


def test_the_next_pass_continues_from_the_export_cursor(pipe: Pipeline) -> None:
    first = outage(pipe, ago(120))
    drop_webhooks(pipe)
    reconcile(pipe.runtime)
    second = outage(pipe, ago(100))
    drop_webhooks(pipe)
    report = reconcile(pipe.runtime)
    assert [item.ticket_id for item in report.caught_up] == [str(second)], f"#{first} is behind the cursor"
    exports = [path for method, path in pipe.desk.requests if "incremental" in path]
    assert "start_time=" in exports[0] and "cursor=" in exports[-1]


def test_an_old_ticket_never_seen_is_history_and_only_its_new_comments_are_news(pipe: Pipeline) -> None:
    old = outage(pipe, ago(3 * 3600))
    printer = outage(pipe, ago(3 * 3600), subject="Printer jammed")
    pipe.desk.customer_comment(printer, "And now we have an outage!", at=ago(1800))
    drop_webhooks(pipe)
    pipe.redis.hset(keys.tenant_key(TENANT, "reconcile"), "since", format_instant(ago(4 * 3600)))
    pipe.redis.hset(keys.tenant_key(TENANT, "reconcile"), "watching_since", format_instant(ago(3600)))
    report = reconcile(pipe.runtime)
    assert {item.ticket_id: item.kinds for item in report.caught_up} == {
        str(old): ["history"],
        str(printer): ["history", "comment.added"],
    }
    pipe.work()
    assert pipe.writes(old) == [], "created before reconciliation watched: history, no keyword reply"
    assert json.loads(pipe.redis.get(keys.state(TENANT, str(old))) or "{}")["tier"] == "L1"
    assert pipe.desk.tickets[printer]["group_id"] == 102, "the comment since the watch began is news"


def test_closed_deleted_and_never_seen_solved_tickets_are_skipped(pipe: Pipeline) -> None:
    closed, deleted, solved = (outage(pipe, ago(200)) for _ in range(3))
    drop_webhooks(pipe)
    pipe.desk.tickets[closed]["status"] = "closed"
    pipe.desk.tickets[solved]["status"] = "solved"
    pipe.desk.delete_ticket(deleted)
    pipe.desk.tickets[deleted]["updated_at"] = format_instant(ago(150))
    report = reconcile(pipe.runtime)
    assert (report.changed, report.skipped, report.events) == (3, 3, 0)


def test_only_one_pass_at_a_time(pipe: Pipeline) -> None:
    lock = pipe.redis.lock(keys.tenant_key(TENANT, "reconcile") + ":lock", timeout=30)
    assert lock.acquire()
    with pytest.raises(ReconcileBusy):
        reconcile(pipe.runtime)
    lock.release()
    assert reconcile(pipe.runtime).changed == 0


def test_a_dry_run_reports_without_queueing_or_moving_the_checkpoint(pipe: Pipeline) -> None:
    ticket_id = outage(pipe, ago(120))
    drop_webhooks(pipe)
    report = reconcile(pipe.runtime, dry_run=True)
    assert report.caught_up[0].ticket_id == str(ticket_id) and report.events == 1
    assert pipe.redis.zcard(keys.ready(TENANT)) == 0
    assert pipe.redis.exists(keys.tenant_key(TENANT, "reconcile")) == 0
    out = io.StringIO()
    print_report(out, TENANT, report, dry_run=True)
    assert out.getvalue().splitlines() == [
        f"  #{ticket_id}: would queue ticket.created",
        f"reconcile {TENANT}: 1 tickets changed since {report.since}; 0 already delivered, 1 caught up "
        "(1 events would queue), 0 skipped",
    ]


# --- the periodic pass in the workers -------------------------------------------------------------------------------


def test_the_workers_loop_catches_up_a_dropped_change_once_per_interval(pipe: Pipeline) -> None:
    ticket_id = outage(pipe, ago(120))
    drop_webhooks(pipe)
    tenant = replace(tenant_config(pipe.desk.base_url), reconcile_every=300.0)
    runtime = Runtime(Config(tenants={TENANT: tenant}), pipe.redis)
    stop = threading.Event()
    loops = [threading.Thread(target=run_reconciler, args=(runtime, stop, 0.05), daemon=True) for _ in range(2)]
    for loop in loops:  # two workers' loops
        loop.start()
    try:
        deadline = time.monotonic() + 15
        while not pipe.redis.zcard(keys.ready(TENANT)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # several more ticks of both loops
    finally:
        stop.set()
        for loop in loops:
            loop.join(2)
    pipe.work()
    assert len(pipe.writes(ticket_id)) == 2
    exports = [path for method, path in pipe.desk.requests if "incremental" in path]
    assert len(exports) == 1, "one pass per interval across all workers"
    assert due_tenants(runtime, datetime.now(UTC)) == []
    assert due_tenants(runtime, datetime.now(UTC) + timedelta(minutes=5)) == [TENANT]


def test_reconciliation_can_be_turned_off(pipe: Pipeline) -> None:
    tenant = replace(tenant_config(pipe.desk.base_url), reconcile_every=None)
    runtime = Runtime(Config(tenants={TENANT: tenant}), pipe.redis)
    assert due_tenants(runtime, datetime.now(UTC)) == []


# --- the command line -----------------------------------------------------------------------------------------------


def write_config(tmp_path: Any, base_url: str) -> str:
    config = tmp_path / "escalator.json"
    config.write_text(json.dumps({"tenants": {TENANT: {
        "vendor": "zendesk", "base_url": base_url, "auth": {"oauth_token": "t"},
        "webhook_secret": {"env": "UNSET_SECRET"}, "rules": str(V1_POLICY)}}}))  # fmt: skip
    return str(config)


def test_escalator_reconcile_prints_what_it_found(
    pipe: Pipeline, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any
) -> None:
    ticket_id = outage(pipe, ago(120))
    drop_webhooks(pipe)
    monkeypatch.setenv("ESCALATOR_CONFIG", write_config(tmp_path, pipe.desk.base_url))
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["reconcile", TENANT]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"  #{ticket_id}: queued ticket.created"
    assert lines[1].startswith(f"reconcile {TENANT}: 1 tickets changed since ")
    assert lines[1].endswith("0 already delivered, 1 caught up (1 events queued), 0 skipped")

    lock = pipe.redis.lock(keys.tenant_key(TENANT, "reconcile") + ":lock", timeout=30)
    assert lock.acquire()
    assert main(["reconcile", TENANT]) == 1
    assert "another reconciliation pass" in capsys.readouterr().err
    lock.release()


# --- Freshdesk ------------------------------------------------------------------------------------------------------


@pytest.fixture
def fd(redis_url: str) -> Iterator[FreshdeskPipeline]:
    desk: FakeFreshdesk = new_desk()
    desk.start()
    yield from freshdesk_pipeline(redis_url, desk)
    desk.stop()


def test_a_dropped_freshdesk_ticket_is_caught_up_and_escalated(fd: FreshdeskPipeline) -> None:
    jane = fd.desk.add_contact("Jane Doe", "jane@example.com")
    ticket_id = int(fd.desk.create_ticket("Outage: cannot log in", "outage", jane, at=ago(240))["id"])
    fresh = int(fd.desk.create_ticket("Outage too", "outage", jane, at=ago(30))["id"])
    drop_webhooks(fd)
    report = reconcile(fd.runtime, FD_TENANT)
    assert [item.ticket_id for item in report.caught_up] == [str(ticket_id)], "too fresh: left to the next pass"
    fd.work()
    calls = [write["call"] for write in fd.writes(ticket_id)]
    assert calls == ["update", "reply", "note"] and fd.desk.tickets[ticket_id]["group_id"] == 102
    assert fd.writes(fresh) == []
    since = parse_instant((fd.redis.hget(keys.tenant_key(FD_TENANT, "reconcile"), "since") or b"").decode())
    assert since is not None and abs((since - ago(120)).total_seconds()) < 5, "the next pass starts 2 minutes back"


def test_a_freshdesk_change_already_delivered_is_left_alone(fd: FreshdeskPipeline) -> None:
    jane = fd.desk.add_contact("Jane Doe", "jane@example.com")
    ticket_id = int(fd.desk.create_ticket("CSV export", "How do I export?", jane, at=ago(240))["id"])
    fd.settle()
    report = reconcile(fd.runtime, FD_TENANT)
    assert (report.changed, report.delivered, report.events) == (1, 1, 0)
    assert fd.writes(ticket_id) == []


# --- the engine's side: a change acted on once, whichever way it arrives first ---------------------------------------

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
TICKET = Ticket("9", subject="Help", description="outage", status="open", group_id="101", group_name="Tier 1",
                requester=Person("1", "Ada Lovelace"), created_at=T0, updated_at=T0)  # fmt: skip


def event(source: str, at: datetime, kind: str = "comment.added", **fields: Any) -> TicketEvent:
    detail = {"updated_at": format_instant(at.replace(microsecond=0))} if source == "reconcile" else {}
    comment = Comment("We have an outage", public=True, author="requester")
    return TicketEvent(f"{source}-{at.isoformat()}", kind, "9", at, comment=comment, source=source,
                       detail=detail, **fields)  # fmt: skip


def test_a_reconciled_event_for_a_change_already_delivered_is_observed_only() -> None:
    delivered = evaluate(SEED, TicketState(), TICKET, event("webhook", T0 + timedelta(milliseconds=400)))
    assert delivered.plan.has_writes()
    again = evaluate(SEED, delivered.state, TICKET, event("reconcile", T0))
    assert not again.plan.has_writes()
    assert again.plan.reasons == ["comment.added found by reconciliation had already been delivered: observed only"]


def test_a_delivery_after_reconciliation_caught_up_is_observed_only_but_a_later_change_is_news() -> None:
    caught_up = evaluate(SEED, TicketState(), TICKET, event("reconcile", T0))
    assert caught_up.plan.has_writes() and caught_up.state.reconciled_through == format_instant(T0)
    late = evaluate(SEED, caught_up.state, TICKET, event("webhook", T0 + timedelta(milliseconds=700)))
    assert not late.plan.has_writes() and "observed only" in late.plan.reasons[0]
    on_hold = TicketState(tier="L1", groups=["L1"], reconciled_through=format_instant(T0))
    later = evaluate(SEED, on_hold, TICKET, event("webhook", T0 + timedelta(seconds=1)))
    assert later.plan.has_writes(), "a change in a later second is not the one reconciliation saw"


def test_timers_are_never_silenced_by_reconciliation() -> None:
    anchor = format_instant(T0)
    state = TicketState(tier="L1", groups=["L1"], status="open", anchors={"created": anchor, "updated": anchor},
                        reconciled_through=format_instant(T0 + timedelta(hours=5)))  # fmt: skip
    detail = {"timer": f"trigger:standard-idle@{anchor}", "trigger": "standard-idle", "anchor_value": anchor}
    timer = TicketEvent("t", "timer.elapsed", "9", T0 + timedelta(hours=4), source="timer", detail=detail)
    plan = evaluate(SEED, state, TICKET, timer).plan
    assert plan.unit is not None and plan.unit.id == "L2", "an idle deadline older than the reconciled change"
