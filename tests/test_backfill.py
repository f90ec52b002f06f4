"""`escalator backfill`: open tickets imported with their real history, observation only, resumable, paced.

Real Redis, a real RQ worker, and the fake help desks' export endpoints (Zendesk's incremental cursor export,
Freshdesk's ticket list); timers are checked in the TimerStore itself.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from escalator.connectors.admin import TicketRecord
from escalator.connectors.errors import TransientError
from escalator.fakedesk.freshdesk import FakeFreshdesk
from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.admin.backfill import Backfill, BackfillBusy, history_events
from escalator.plugin.admin.progress import Progress
from escalator.plugin.app import create_app
from escalator.plugin.cli import main
from escalator.plugin.clock import fire
from escalator.plugin.config import Config
from escalator.plugin.ratelimit import Budget
from escalator.plugin.runtime import Runtime, install
from escalator.rules.engine import evaluate
from escalator.rules.loader import load_policy_file
from escalator.rules.model import Person, Ticket, format_instant, parse_instant
from escalator.rules.state import TicketState
from tests.support import TENANT, V1_POLICY, Pipeline
from tests.support_freshdesk import TENANT as FD_TENANT
from tests.support_freshdesk import FreshdeskPipeline, freshdesk_pipeline, new_desk
from tests.support_freshdesk import tenant_config as fd_tenant_config

SEED = load_policy_file(V1_POLICY)
FAST = Budget(limit=10_000, period=60.0)
"""Export pacing for tests that are not about pacing."""
HOUR = 3600.0


def run_backfill(runtime: Runtime, tenant: str = TENANT, **options: Any) -> tuple[Any, str, str]:
    out, err = io.StringIO(), io.StringIO()
    since = options.pop("since", datetime.now(UTC) - timedelta(days=30))
    restart = options.pop("restart", False)
    dry_run = options.pop("dry_run", False)
    options.setdefault("export_budget", FAST)
    options.setdefault("max_queued", None)
    backfill = Backfill(runtime, tenant, out=out, err=err, interactive=False, **options)
    report = backfill.run(since, restart=restart, dry_run=dry_run)
    return report, out.getvalue(), err.getvalue()


def state(pipe: Pipeline | FreshdeskPipeline, tenant: str, ticket_id: int) -> dict[str, Any]:
    raw = pipe.redis.get(keys.state(tenant, str(ticket_id)))
    return json.loads(raw) if raw else {}


def due(runtime: Runtime, tenant: str, ticket_id: int, name: str) -> float | None:
    return runtime.timers(tenant).due_of(f"{tenant}:{ticket_id}:{name}")


def iso(instant: datetime) -> str:
    return format_instant(instant)


# --- history as observation only (pure) ---------------------------------------------------------------------------

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def record(**fields: Any) -> TicketRecord:
    values: dict[str, Any] = {
        "ticket_id": "7",
        "status": "open",
        "created_at": T0 - timedelta(hours=3),
        "updated_at": T0 - timedelta(hours=3),
        "group_id": "101",
    }
    values.update(fields)
    return TicketRecord(**values)


GROUPS = {"101": "Tier 1", "102": "Tier 2", "201": "Finance"}


def replay(rec: TicketRecord, ticket: Ticket) -> tuple[TicketState, list[str]]:
    """What the engine makes of a record's history events, and every reason it gave."""
    current, reasons = TicketState(), []
    for event in history_events(rec, SEED, GROUPS):
        decision = evaluate(SEED, current, ticket, event)
        current = decision.state
        reasons += decision.plan.reasons
        assert not decision.plan.has_writes(), f"{event.kind} from history planned a write"
    return current, reasons


def test_a_first_tier_ticket_replays_created_then_updated_at_their_real_instants() -> None:
    rec = record(updated_at=T0 - timedelta(hours=1))
    events = history_events(rec, SEED, GROUPS)
    assert [(e.kind, e.occurred_at, e.delivery_id) for e in events] == [
        ("ticket.created", T0 - timedelta(hours=3), "backfill:7:created"),
        ("ticket.updated", T0 - timedelta(hours=1), f"backfill:7:updated:{iso(T0 - timedelta(hours=1))}"),
    ]
    assert {e.source for e in events} == {"backfill"}


def test_a_keyword_in_an_old_ticket_fires_nothing_but_clocks_run_from_creation() -> None:
    ticket = Ticket("7", subject="Outage: cannot log in", description="outage since 9am", status="open",
                    group_id="101", group_name="Tier 1", requester=Person("1", "Ada Lovelace"),
                    created_at=T0 - timedelta(hours=3), updated_at=T0 - timedelta(hours=3))  # fmt: skip
    current, reasons = replay(record(), ticket)
    assert reasons == [] and current.escalations == [] and current.tier == "L1"
    assert current.anchors["created"] == current.anchors["updated"] == iso(T0 - timedelta(hours=3))
    assert current.anchors["tier_entered"] == iso(T0 - timedelta(hours=3))
    assert current.clocks["first_response"]["started_at"] == iso(T0 - timedelta(hours=3))


def test_a_ticket_in_a_later_tier_enters_it_at_its_last_update_never_earlier() -> None:
    rec = record(group_id="102", updated_at=T0 - timedelta(minutes=20))
    ticket = Ticket("7", status="open", group_id="102", group_name="Tier 2",
                    created_at=rec.created_at, updated_at=rec.updated_at)  # fmt: skip
    assert [e.kind for e in history_events(rec, SEED, GROUPS)] == ["ticket.updated"]
    current, _ = replay(rec, ticket)
    assert current.tier == "L2"
    assert current.anchors["tier_entered"] == iso(T0 - timedelta(minutes=20))
    assert current.anchors["created"] == iso(T0 - timedelta(hours=3)), "created still comes from the ticket"
    assert current.clocks["first_response"]["started_at"] == iso(T0 - timedelta(minutes=20))


def test_an_agent_reply_in_the_export_fulfils_the_first_response() -> None:
    replied = T0 - timedelta(hours=2)
    rec = record(first_reply_at=replied, updated_at=T0 - timedelta(hours=1))
    ticket = Ticket("7", status="open", group_id="101", group_name="Tier 1", created_at=rec.created_at)
    current, _ = replay(rec, ticket)
    assert current.clocks["first_response"]["done_at"] == iso(replied)
    assert current.anchors["agent_update"] == iso(replied)
    assert current.sla_log == [], "history fulfils the clock but is no measured SLA outcome for the KPIs"

    later = record(group_id="102", first_reply_at=replied, updated_at=T0 - timedelta(hours=1))
    ticket = Ticket("7", status="open", group_id="102", group_name="Tier 2", created_at=rec.created_at)
    current, _ = replay(later, ticket)
    assert current.clocks["first_response"]["done_at"] == iso(T0 - timedelta(hours=1))


# --- Zendesk: 10,000 tickets through the export, the queue and a real worker -----------------------------------


@dataclass
class Made:
    id: int
    created: datetime
    updated: datetime
    group: str
    replied: bool
    state: str


def zendesk_history(desk: FakeZendesk, count: int, now: datetime) -> list[Made]:
    """Tickets with varied real histories: ages from 1 to ~6.5 hours, every tenth in Tier 2, a third answered
    by an agent 20 minutes after creation, every seventh with an outage keyword, some solved or closed."""
    users = [desk.add_user(f"Customer {n}", f"c{n}@example.com") for n in range(40)]
    made = []
    for i in range(count):
        created = now - timedelta(hours=1, minutes=(i % 47) * 7)
        group = "Tier 2" if i % 10 == 0 else "Tier 1"
        subject = "Outage: cannot log in" if i % 7 == 0 else f"Question {i}"
        ticket = desk.create_ticket(subject, subject, users[i % 40], group=group, at=created)
        ticket_id = int(ticket["id"])
        replied = i % 3 == 0
        if replied:
            desk.add_comment(
                ticket_id, "Looking into it.", public=True, author_id=901, at=created + timedelta(minutes=20)
            )
        status = "solved" if i % 25 == 0 else "closed" if i % 50 == 1 else "open"
        ticket["status"] = status
        made.append(Made(ticket_id, created, parse_instant(ticket["updated_at"]) or created, group, replied, status))
    return made


def test_ten_thousand_zendesk_tickets_get_the_timers_their_history_calls_for(pipe: Pipeline) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    made = zendesk_history(pipe.desk, 10_000, now)
    open_tickets = [m for m in made if m.state == "open"]

    report, _, err = run_backfill(pipe.runtime)
    assert (report.imported, report.skipped, report.scanned) == (len(open_tickets), 10_000 - len(open_tickets), 10_000)
    assert report.total == len(open_tickets), "the progress bar's total comes from a search count"
    assert f"{len(open_tickets):,}/{len(open_tickets):,} tickets" in err.splitlines()[-1]
    assert "/s" in err and err.splitlines()[-1].endswith("done")
    exports = [path for method, path in pipe.desk.requests if "incremental" in path]
    assert len(exports) == 10 and all("per_page=1000" in path for path in exports)

    started = time.time()
    pipe.work()
    finished = time.time()

    assert pipe.desk.writes == [], "history fires no rule: no reply, no note, no move (7 % carry 'outage')"
    for m in open_tickets:
        first_tier = m.group == "Tier 1"
        idle_due = due(pipe.runtime, TENANT, m.id, f"trigger:standard-idle@{iso(m.updated)}")
        wanted = (m.updated + timedelta(hours=4)).timestamp()
        assert idle_due is not None
        if wanted > finished:
            assert idle_due == wanted, f"#{m.id}: 4 idle hours counted from its real last update"
        else:
            assert started - 1 <= idle_due <= finished, f"#{m.id}: an idle deadline already past is due at once"
        entered = m.created if first_tier else m.updated
        warning = 0.75 * (8 * HOUR if first_tier else 0.5 * HOUR)
        first_response = due(pipe.runtime, TENANT, m.id, "sla:first_response")
        if m.replied:
            assert first_response is None, f"#{m.id}: answered, so no first-response alarm"
        else:
            assert first_response == entered.timestamp() + warning, f"#{m.id}: warning at 75 % of the target"
        resolution = 0.75 * (48 * HOUR if first_tier else 8 * HOUR)
        assert due(pipe.runtime, TENANT, m.id, "sla:resolution") == entered.timestamp() + resolution
    for m in made:
        if m.state != "open":
            assert pipe.redis.get(keys.state(TENANT, str(m.id))) is None, "solved and closed tickets are not imported"
    sample = state(pipe, TENANT, open_tickets[0].id)
    assert sample["escalations"] == [] and sample["last_webhook_at"] is None


def test_an_imported_ticket_created_three_hours_ago_escalates_an_hour_from_now(pipe: Pipeline) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    jane = pipe.desk.add_user("Jane Doe", "jane@example.com")
    ticket_id = int(
        pipe.desk.create_ticket("Export fails", "CSV export fails", jane, at=now - timedelta(hours=3))["id"]
    )
    run_backfill(pipe.runtime)
    pipe.work()
    idle = due(pipe.runtime, TENANT, ticket_id, f"trigger:standard-idle@{iso(now - timedelta(hours=3))}")
    assert idle == (now + timedelta(hours=1)).timestamp(), "in ~1 hour, not in 4"
    assert pipe.desk.writes == []


def test_an_overdue_idle_deadline_fires_right_after_the_import_without_a_customer_reply(pipe: Pipeline) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    jane = pipe.desk.add_user("Jane Doe", "jane@example.com")
    old = now - timedelta(hours=5)
    ticket_id = int(pipe.desk.create_ticket("Outage: cannot log in", "outage", jane, at=old)["id"])
    run_backfill(pipe.runtime)
    pipe.work()
    assert pipe.desk.writes == []
    fired = pipe.runtime.timers(TENANT).claim_due(time.time())
    assert f"{TENANT}:{ticket_id}:trigger:standard-idle@{iso(old)}" in {timer.key for timer in fired}
    fire(pipe.runtime, fired)
    pipe.work()
    writes = pipe.writes(ticket_id)
    assert writes[0]["group_id"] == 102, "idle for 5 hours in L1: moved up to L2 now"
    assert all(write.get("comment", {}).get("public") is not True for write in writes), "no customer reply"
    assert any("standard-idle" in write.get("comment", {}).get("body", "") for write in writes)


def test_running_backfill_again_queues_nothing_twice(pipe: Pipeline) -> None:
    now = datetime.now(UTC)
    zendesk_history(pipe.desk, 300, now)
    first, _, _ = run_backfill(pipe.runtime)
    second, _, _ = run_backfill(pipe.runtime)
    assert first.events > 0 and second.events == 0
    assert second.imported == first.imported


def test_an_interrupted_backfill_resumes_from_its_checkpoint(pipe: Pipeline) -> None:
    made = zendesk_history(pipe.desk, 2_500, datetime.now(UTC))
    in_export_order = sorted(made, key=lambda m: (int(m.updated.timestamp()), m.id))
    exports: list[str] = []
    outage = {"on": True}

    def export_goes_down_after_one_page(line: str) -> None:
        if "incremental" in line:
            exports.append(line)
            if outage["on"] and len(exports) >= 2:
                raise RuntimeError("export unavailable")  # the fake answers 500

    pipe.desk.hooks.append(export_goes_down_after_one_page)
    pipe.runtime.client(TENANT).http.sleep = lambda seconds: None  # type: ignore[attr-defined]
    with pytest.raises(TransientError):
        run_backfill(pipe.runtime)
    saved = {k.decode(): v.decode() for k, v in pipe.redis.hgetall(keys.tenant_key(TENANT, "backfill")).items()}
    assert saved["state"] == "running"
    assert saved["imported"] == str(sum(m.state == "open" for m in in_export_order[:1000]))

    outage["on"] = False
    calls_before = len(pipe.desk.requests)
    report, out, _ = run_backfill(pipe.runtime)
    assert "resuming from the checkpoint" in out
    assert report.resumed and report.imported == sum(m.state == "open" for m in made) and report.scanned == 2_500
    resumed = [path for _, path in pipe.desk.requests[calls_before:] if "incremental" in path]
    assert f"cursor={saved['checkpoint']}" in resumed[0] and "start_time" not in resumed[0]
    assert pipe.redis.hget(keys.tenant_key(TENANT, "backfill"), "state") == b"done"


def test_the_export_is_paced_to_the_help_desks_limit(pipe: Pipeline) -> None:
    zendesk_history(pipe.desk, 2_500, datetime.now(UTC))
    pipe.desk.enforce_export_limit(1, period=0.4)  # Zendesk's 10 a minute, scaled down: one per 0.4 s
    started = time.monotonic()
    report, _, _ = run_backfill(pipe.runtime, export_budget=Budget(limit=2, period=1.0, burst=1))
    assert report.pages == 3 and report.scanned == 2_500
    assert pipe.desk.rate_limited == [], "paced below the limit: never a 429"
    assert time.monotonic() - started >= 0.95, "three pages at one per half second"


def test_backfill_waits_while_the_queue_is_full(pipe: Pipeline) -> None:
    zendesk_history(pipe.desk, 60, datetime.now(UTC))
    waits: list[float] = []

    def worker_catches_up(seconds: float) -> None:
        waits.append(seconds)
        pipe.work()

    report, _, err = run_backfill(pipe.runtime, max_queued=10, sleep=worker_catches_up)
    assert waits and report.imported > 10
    assert "wait for a worker" in err
    assert pipe.redis.zcard(keys.ready(TENANT)) <= 10


def test_a_dry_run_counts_and_queues_nothing(pipe: Pipeline) -> None:
    made = zendesk_history(pipe.desk, 100, datetime.now(UTC))
    report, out, _ = run_backfill(pipe.runtime, dry_run=True)
    assert report.imported == sum(m.state == "open" for m in made) and report.events == 0
    assert "would import" in out
    assert pipe.redis.zcard(keys.ready(TENANT)) == 0
    assert pipe.redis.exists(keys.tenant_key(TENANT, "backfill")) == 0


def test_only_one_backfill_runs_per_tenant(pipe: Pipeline) -> None:
    lock = pipe.redis.lock(keys.tenant_key(TENANT, "backfill") + ":lock", timeout=30)
    assert lock.acquire()
    with pytest.raises(BackfillBusy):
        run_backfill(pipe.runtime)
    lock.release()


def test_a_finished_backfill_hands_its_starting_point_to_reconciliation(pipe: Pipeline) -> None:
    zendesk_history(pipe.desk, 10, datetime.now(UTC))
    before = datetime.now(UTC).replace(microsecond=0)
    run_backfill(pipe.runtime)
    since = pipe.redis.hget(keys.tenant_key(TENANT, "reconcile"), "since")
    assert since is not None and (parse_instant(since.decode()) or before) >= before


# --- Freshdesk: the ticket list, read back by the worker ------------------------------------------------------------


@pytest.fixture
def fd(redis_url: str) -> Iterator[FreshdeskPipeline]:
    desk: FakeFreshdesk = new_desk()
    desk.start()
    yield from freshdesk_pipeline(redis_url, desk)
    desk.stop()


@pytest.fixture
def fd_fast(redis_url: str) -> Iterator[FreshdeskPipeline]:
    """A Freshdesk tenant with a budget a test can spend in seconds (reading 10,000 tickets back at a real
    plan's 700 a minute takes a quarter of an hour, which is what a real backfill costs)."""
    desk: FakeFreshdesk = new_desk()
    desk.start()
    connection = redis.Redis.from_url(redis_url)
    tenant = replace(fd_tenant_config(desk.base_url), rate_limit={"requests_per_minute": 1_000_000})
    runtime = Runtime(Config(tenants={FD_TENANT: tenant}), connection)
    install(runtime)
    yield FreshdeskPipeline(desk, runtime, create_app(runtime).test_client(), connection)
    install(None)
    connection.close()
    desk.stop()


def test_ten_thousand_freshdesk_tickets_are_listed_and_imported_with_their_timers(fd_fast: FreshdeskPipeline) -> None:
    fd = fd_fast
    now = datetime.now(UTC).replace(microsecond=0)
    contacts = [fd.desk.add_contact(f"Customer {n}", f"c{n}@example.com") for n in range(40)]
    made = []
    for i in range(10_000):
        created = now - timedelta(hours=1, minutes=(i % 47) * 7)
        # As in a real help desk, most tickets of the last days are resolved or closed: a quarter are open.
        status = 2 if i % 4 == 0 else 4 if i % 4 == 1 else 5
        ticket = fd.desk.create_ticket(f"Question {i}", "How?", contacts[i % 40], status=status, at=created)
        made.append((int(ticket["id"]), created, status))
    report, _, err = run_backfill(fd.runtime, FD_TENANT)
    assert (report.scanned, report.imported, report.skipped) == (10_000, 2_500, 7_500)
    assert report.pages == 101 and "2,500 tickets (scanned 10,000)" in err.splitlines()[-1]
    lists = [path for method, path in fd.desk.requests if path.startswith("/api/v2/tickets?")]
    assert len(lists) == 101 and all("order_by=updated_at" in path and "per_page=100" in path for path in lists)

    started = time.time()
    fd.work()  # reads every ticket back (Freshdesk's list items are partial)
    assert fd.desk.writes == []
    for ticket_id, created, status in made:
        if status != 2:
            assert fd.state(ticket_id) == {}
            continue
        # Priority Low in L1: first response 24 h, warned at 75 %; idle for 4 hours since the real update.
        assert due(fd.runtime, FD_TENANT, ticket_id, "sla:first_response") == created.timestamp() + 18 * HOUR
        idle = due(fd.runtime, FD_TENANT, ticket_id, f"trigger:standard-idle@{iso(created)}")
        wanted = created.timestamp() + 4 * HOUR
        assert idle == wanted or (wanted < time.time() and started - 1 <= (idle or 0) <= time.time())


def test_a_freshdesk_ticket_answered_by_an_agent_has_its_first_response_fulfilled(fd: FreshdeskPipeline) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    jane = fd.desk.add_contact("Jane Doe", "jane@example.com")
    ticket_id = int(fd.desk.create_ticket("Export fails", "How?", jane, at=now - timedelta(hours=2))["id"])
    fd.desk.agent_reply(ticket_id, "On it", at=now - timedelta(hours=1))
    run_backfill(fd.runtime, FD_TENANT)
    fd.work()
    saved = fd.state(ticket_id)
    assert saved["clocks"]["first_response"]["done_at"] == iso(now - timedelta(hours=1))
    assert due(fd.runtime, FD_TENANT, ticket_id, "sla:first_response") is None
    assert fd.desk.writes == []


# --- the command line ---------------------------------------------------------------------------------------------


def test_progress_redraws_in_place_on_a_terminal_and_prints_lines_in_a_log() -> None:
    now = [0.0]
    terminal = io.StringIO()
    bar = Progress(terminal, "backfill acme:", total=200, clock=lambda: now[0], interactive=True)
    now[0] = 2.0
    bar.update(50, 60)
    bar.finish()
    assert terminal.getvalue().count("\r") == 2
    assert "backfill acme: [######..................] 50/200 tickets (scanned 60) 25/s - done" in terminal.getvalue()

    now[0] = 0.0
    log = io.StringIO()
    bar = Progress(log, "backfill acme:", clock=lambda: now[0], interactive=False)
    bar.update(10, 10)
    now[0] = 2.0
    bar.update(20, 20)  # within 5 s of the last line: not printed
    now[0] = 6.0
    bar.update(90, 90)
    assert "\r" not in log.getvalue()
    assert [line.split(" tickets")[0] for line in log.getvalue().splitlines()] == [
        "backfill acme: 10",
        "backfill acme: 90",
    ]


def test_backfill_needs_the_workers_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any) -> None:
    config = tmp_path / "escalator.json"
    config.write_text(json.dumps({"tenants": {"acme": {
        "vendor": "zendesk", "base_url": "http://127.0.0.1:9", "auth": {"oauth_token": "t"},
        "webhook_secret": {"env": "UNSET_SECRET"}, "rules": str(V1_POLICY)}}}))  # fmt: skip
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main(["backfill", "acme"])
    assert stopped.value.code == 2 and "set REDIS_URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as unknown:
        main(["backfill", "nope"])
    assert unknown.value.code == 2 and "no tenant 'nope'" in capsys.readouterr().err


def test_backfill_on_the_command_line(
    pipe: Pipeline, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any
) -> None:
    zendesk_history(pipe.desk, 30, datetime.now(UTC))
    config = tmp_path / "escalator.json"
    config.write_text(json.dumps({"tenants": {TENANT: {
        "vendor": "zendesk", "base_url": pipe.desk.base_url, "auth": {"oauth_token": "t"},
        "webhook_secret": {"env": "UNSET_SECRET"}, "rules": str(V1_POLICY)}}}))  # fmt: skip
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["backfill", TENANT, "--since", "2d"]) == 0
    captured = capsys.readouterr()
    assert re.fullmatch(
        rf"backfill {TENANT}: 27 open tickets imported \(\d+ events queued\), 3 solved/closed/deleted skipped, "
        r"30 scanned in 1 pages",
        captured.out.splitlines()[-1],
    )
    assert "27/27 tickets" in captured.err
    assert pipe.redis.zcard(keys.ready(TENANT)) == 27
