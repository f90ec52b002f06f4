"""Reconciliation: catch up on changes whose webhook never arrived, from the help desk's own export.

A pass reads the tickets changed since the tenant's checkpoint (`esc:<tenant>:reconcile`: Zendesk's export
cursor, or for Freshdesk the `updated_since` the last pass reached) and compares each with what Escalator
has seen of it: the newest delivery (`TicketState.last_webhook_at`), what a previous pass caught up on
(`reconciled_through`), and deliveries still waiting in the ticket's inbox. A ticket whose `updated_at` is
no newer was delivered: nothing to do. For the others it queues, through `Runtime.accept` like a webhook:

- `comment.added` for each comment newer than the last delivery (a dropped customer message still gets its
  keyword triggers), read back from the help desk;
- `ticket.solved` / `ticket.reopened` when the status crossed solved since, else `ticket.updated`, at the
  ticket's `updated_at`;
- for a ticket Escalator never saw: `ticket.created` if it was created inside the window this pass covers,
  or, for an older one, its history as `escalator backfill` would import it (observation only).

Every event has `source="reconcile"` (history: `"backfill"`) and a delivery id made of the ticket and the
instant (`reconcile:<ticket>:<kind>:<updated_at>`, `reconcile:<ticket>:comment:<id>`), so two passes, or
two workers, never queue one change twice. A change that reaches Escalator both ways is acted on once: the
engine observes a reconciled event whose instant a delivery already covered, and a delivery (a retry after
an outage) of a change a pass already caught up on (`rules.engine._observation_only`).

One pass at a time per tenant (a Redis lock); every worker runs the periodic loop, and the lock and the
time of the last pass keep it to one pass per interval across all of them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import redis

from escalator.connectors.admin import TicketExport, TicketRecord
from escalator.plugin import keys
from escalator.plugin.admin import export_pacer, held_lock, say, state_key, ticket_export
from escalator.plugin.admin.backfill import history_events
from escalator.plugin.connection import UNAVAILABLE
from escalator.plugin.logs import throttled
from escalator.plugin.ratelimit import Budget
from escalator.plugin.runtime import Runtime
from escalator.rules.engine import HISTORY_SOURCE, RECONCILE_SOURCE, WEBHOOK_SOURCE
from escalator.rules.model import TicketEvent, format_instant, parse_instant
from escalator.rules.state import TicketState, instant_key

log = logging.getLogger(__name__)

FIRST_WINDOW = timedelta(hours=1)
"""With no checkpoint yet (no backfill, first pass), look back this far."""
LOCK_SECONDS = 300.0
COMMENTS_PER_TICKET = 10
"""Comments read back per caught-up ticket: a dropped burst longer than this keeps only its newest."""
LOOP_TICK_SECONDS = 15.0
"""How often a worker's reconciliation loop looks whether a pass is due."""
REPORT_LINES = 50


@dataclass
class CaughtUp:
    ticket_id: str
    kinds: list[str]


@dataclass
class ReconcileReport:
    since: str
    changed: int = 0
    delivered: int = 0
    """Changed tickets whose newest change had already been delivered by webhook (nothing to do)."""
    skipped: int = 0
    """Closed or deleted tickets, and solved ones Escalator never saw."""
    events: int = 0
    caught_up: list[CaughtUp] = field(default_factory=list)


class ReconcileBusy(Exception):
    """Another pass for the tenant holds the lock."""


def _seen_in_inbox(runtime: Runtime, tenant: str, ticket_id: str) -> tuple[bool, datetime | None]:
    """(any event waiting for the ticket, the newest change those events account for): a delivery's instant,
    a reconciled event's `updated_at`, a backfilled history's last instant (timers account for nothing)."""
    pending = runtime.queue.pending(tenant, ticket_id)
    covered = []
    for event in pending:
        if event.source == RECONCILE_SOURCE:
            covered.append(parse_instant(str(event.detail.get("updated_at") or "")) or event.occurred_at)
        elif event.source in (WEBHOOK_SOURCE, HISTORY_SOURCE):
            covered.append(event.occurred_at)
    return bool(pending), max(covered, default=None)


def last_seen(state: TicketState | None, inbox_newest: datetime | None) -> datetime | None:
    """The newest change Escalator knows was delivered or caught up (timers and our own clock do not count)."""
    marks = []
    if state is not None:
        marks = [state.last_webhook_at, state.reconciled_through]
        if state.last_webhook_at is None:
            marks.append(state.anchors.get("updated"))  # a state saved before deliveries were tracked
    instants = [instant_key(mark) for mark in marks if mark]
    if inbox_newest is not None:
        instants.append(inbox_newest)
    return max(instants, default=None)


class Reconciler:
    def __init__(
        self,
        runtime: Runtime,
        tenant: str,
        *,
        export_budget: Budget | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runtime, self.tenant = runtime, tenant
        self.policy = runtime.connector(tenant).export_policy
        """Changes younger than `settle` are left to the next pass, so a webhook still in flight is not raced;
        an export with an exact cursor continues with later changes, others restart from a time."""
        self.key = state_key(tenant, "reconcile")
        self.clock = clock
        self.export_budget = export_budget
        self._groups: dict[str, str] | None = None

    def run(self, *, dry_run: bool = False) -> ReconcileReport:
        busy = ReconcileBusy(f"another reconciliation pass of {self.tenant} is running")
        what = f"reconciliation lock of {self.tenant}"
        with held_lock(self.runtime.redis, self.key + ":lock", LOCK_SECONDS, busy, what) as renew:
            return self._pass(dry_run, renew=renew)

    def _pass(self, dry_run: bool, renew: Callable[[], object]) -> ReconcileReport:
        saved = {keys.as_text(k): keys.as_text(v) for k, v in self.runtime.redis.hgetall(self.key).items()}
        now = self.clock().replace(microsecond=0)
        since = parse_instant(saved.get("since")) or now - FIRST_WINDOW
        # Tickets created after reconciliation began watching are news; older ones it never saw are history.
        watching_since = parse_instant(saved.get("watching_since")) or since
        settle = self.policy.settle
        window_end = now - settle
        cursor = saved.get("checkpoint") if self.policy.exact_cursor else None
        # With a cursor the export continues from the last pass; without one it starts at `since`.
        report = ReconcileReport(since=saved.get("last_pass_at", "") if cursor else format_instant(since))
        export = ticket_export(self.runtime, self.tenant, export_pacer(self.runtime, self.tenant, self.export_budget))
        for page in export.pages(since=since, checkpoint=cursor):
            for record in page.tickets:
                if settle and record.updated_at > window_end:
                    continue  # too fresh: its webhook may still be on the way; the next pass looks again
                report.changed += 1
                events = self._events_for(record, watching_since, export)
                if events is None:
                    report.skipped += 1
                    continue
                if not events:
                    report.delivered += 1
                    continue
                queued = events if dry_run else [event for event in events if self.runtime.accept(self.tenant, event)]
                report.events += len(queued)
                if queued:
                    report.caught_up.append(CaughtUp(record.ticket_id, _kinds(queued)))
            if not dry_run and self.policy.exact_cursor:
                self.runtime.redis.hset(self.key, "checkpoint", page.checkpoint)
                renew()
        if not dry_run:
            fields = {
                "last_pass_at": format_instant(now),
                "last_events": str(report.events),
                "watching_since": format_instant(watching_since),
            }
            if not self.policy.exact_cursor:
                fields["since"] = format_instant(window_end)
            elif "since" not in saved:
                fields["since"] = format_instant(since)
            self.runtime.redis.hset(self.key, mapping={name: value for name, value in fields.items()})
        return report

    def _state(self, ticket_id: str) -> TicketState | None:
        raw = self.runtime.redis.get(keys.state(self.tenant, ticket_id))
        return TicketState.from_dict(json.loads(raw)) if raw else None

    def _history(self, record: TicketRecord) -> list[TicketEvent]:
        if self._groups is None:
            self._groups = self.runtime.client(self.tenant).groups()
        return history_events(record, self.runtime.policy(self.tenant), self._groups)

    def _events_for(self, record: TicketRecord, since: datetime, export: TicketExport) -> list[TicketEvent] | None:
        """The events that catch Escalator up on this ticket: [] when it is up to date, None to skip it."""
        if record.status in ("closed", "deleted"):
            return None  # nothing to do on a ticket the help desk will not let us update
        state = self._state(record.ticket_id)
        queued, inbox_newest = _seen_in_inbox(self.runtime, self.tenant, record.ticket_id)
        seen = last_seen(state, inbox_newest)
        if seen is not None and seen >= record.updated_at:
            return []
        known = state is not None or queued
        if not known and not record.open:
            return None  # solved before Escalator ever saw it
        through = format_instant(record.updated_at)

        def event(delivery: str, kind: str, at: datetime, **extra: Any) -> TicketEvent:
            return TicketEvent(
                delivery_id=f"{RECONCILE_SOURCE}:{record.ticket_id}:{delivery}",
                kind=kind,
                ticket_id=record.ticket_id,
                occurred_at=at,
                source=RECONCILE_SOURCE,
                detail={"updated_at": through},
                snapshot=record.snapshot,
                **extra,
            )

        events: list[TicketEvent] = []
        news = known or record.created_at >= since
        if known:
            after = seen or record.created_at
        elif news:
            events.append(event("created", "ticket.created", record.created_at))
            after = record.created_at
        else:
            # Created before reconciliation watched and never seen (no backfill): its past is history (which
            # covers it up to `updated_at`); only its comments since the watch began are news.
            events.extend(self._history(record))
            after = since
        for item in export.comments_since(record.ticket_id, after, COMMENTS_PER_TICKET):
            key = item.comment.id or format_instant(item.created_at)
            events.append(event(f"comment:{key}", "comment.added", item.created_at, comment=item.comment))
        kind, changes = _status_change(state.status if state is not None else None, record.status)
        if known or (news and record.updated_at > record.created_at):
            events.append(event(f"{kind}:{through}", kind, record.updated_at, changes=changes))
        return events


def _kinds(events: list[TicketEvent]) -> list[str]:
    """What was queued, for the report: event kinds, with a ticket's imported history as one `history`."""
    kinds: list[str] = []
    for event in events:
        kind = event.kind if event.source == RECONCILE_SOURCE else "history"
        if kind != "history" or "history" not in kinds:
            kinds.append(kind)
    return kinds


def _status_change(before: str | None, after: str) -> tuple[str, dict[str, tuple[str | None, str]]]:
    done = ("solved", "closed")
    if before is None or before == after:
        return "ticket.updated", {}
    if after == "solved" and before not in done:
        return "ticket.solved", {"status": (before, after)}
    if before in done and after not in done:
        return "ticket.reopened", {"status": (before, after)}
    return "ticket.updated", {"status": (before, after)}


def print_report(out: TextIO, tenant: str, report: ReconcileReport, *, dry_run: bool = False) -> None:
    verb = "would queue" if dry_run else "queued"
    for item in report.caught_up[:REPORT_LINES]:
        say(out, f"  #{item.ticket_id}: {verb} {', '.join(item.kinds)}")
    if len(report.caught_up) > REPORT_LINES:
        say(out, f"  ... and {len(report.caught_up) - REPORT_LINES} more tickets")
    say(
        out,
        f"reconcile {tenant}: {report.changed} tickets changed since {report.since}; {report.delivered} already "
        f"delivered, {len(report.caught_up)} caught up ({report.events} events {verb}), {report.skipped} skipped",
    )


# --- the periodic pass in every worker -------------------------------------------------------------------------


def due_tenants(runtime: Runtime, now: datetime) -> list[str]:
    """Tenants whose last pass (by any worker) is older than their interval."""
    due = []
    for name, tenant in runtime.config.tenants.items():
        if tenant.reconcile_every is None:
            continue
        last = runtime.redis.hget(state_key(name, "reconcile"), "last_pass_at")
        at = parse_instant(keys.as_text(last)) if last else None
        if at is None or (now - at).total_seconds() >= tenant.reconcile_every:
            due.append(name)
    return due


def reconcile_due(runtime: Runtime) -> None:
    for tenant in due_tenants(runtime, datetime.now(UTC)):
        try:
            report = Reconciler(runtime, tenant).run()
        except ReconcileBusy:
            continue
        except redis.RedisError:
            raise
        except Exception as error:  # a help desk outage must not stop the loop (nor the worker)
            throttled(
                log,
                logging.WARNING,
                f"reconcile:{tenant}",
                "reconciliation pass for %s failed (%s); the next one retries",
                tenant,
                error,
            )
            continue
        if report.events:
            log.warning(
                "reconciliation for %s caught up on %d tickets whose webhooks never arrived (%d events)",
                tenant,
                len(report.caught_up),
                report.events,
            )


def run_reconciler(runtime: Runtime, stop: threading.Event, tick: float = LOOP_TICK_SECONDS) -> None:
    while not stop.is_set():
        try:
            reconcile_due(runtime)
        except UNAVAILABLE as error:  # reported once per outage, not once per tick
            runtime.outage.down(error)
        except Exception as error:  # keep the loop alive whatever a pass meets
            throttled(log, logging.ERROR, "reconciliation loop", "reconciliation loop error: %s", error, exc_info=error)
        stop.wait(tick)


def start_reconciler(runtime: Runtime, stop: threading.Event, tick: float = LOOP_TICK_SECONDS) -> threading.Thread:
    thread = threading.Thread(
        target=run_reconciler, args=(runtime, stop, tick), name="escalator-reconciler", daemon=True
    )
    thread.start()
    return thread
