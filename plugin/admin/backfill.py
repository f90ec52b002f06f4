"""`escalator backfill TENANT`: import the open tickets, so their clocks run from their real history.

What a backfilled ticket looks like to the engine: the events it would have seen had Escalator been watching,
at their real instants, marked `source="backfill"` so they are observation only (`rules.engine`):

- a ticket in the first tier (or in no group a tier or team owns): `ticket.created` at its `created_at`, a
  `comment.added` by an agent at its first public reply when the export says when that was (so a first
  response already given is not reported as missing), and `ticket.updated` at its `updated_at`;
- a ticket another tier or team owns: only `ticket.updated` at its `updated_at`. When it entered that tier is
  not in the export, and the last update is the latest it can have been: its clocks start no earlier than
  the truth. If agents have replied on it, its first response counts as given (an agent reply observed at
  `updated_at`), for the same reason: a backfill never reports a breach that may not have happened.

No rule fires on these events: keyword triggers and "on created" rules were the business of whoever handled
the ticket then (a customer must not get "I've escalated your issue" about a month-old ticket). SLA clocks
and elapsed-time triggers, on the other hand, are armed from the real instants: a ticket created three hours
ago with a four-hour idle rule fires in about an hour, and one already past a deadline fires right after the
import, because the condition holds now.

Each event's delivery id is derived from the ticket and the instant (`backfill:<ticket>:created`,
`backfill:<ticket>:updated:<updated_at>`), so running backfill again queues nothing twice. The export's
checkpoint is saved in Redis after every page (`esc:<tenant>:backfill`): an interrupted backfill continues
where it stopped. Zendesk's export is paced to its 10 calls a minute through a bucket shared with
reconciliation; the worker's reads spend the tenant's usual budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from escalator.connectors.admin import ExportPage, TicketRecord
from escalator.connectors.errors import RateLimited
from escalator.plugin import keys
from escalator.plugin.admin import export_pacer, held_lock, say, state_key, ticket_export
from escalator.plugin.admin.progress import Progress
from escalator.plugin.ratelimit import Budget
from escalator.plugin.runtime import Runtime
from escalator.rules.model import Comment, TicketEvent, format_instant, parse_instant
from escalator.rules.policy import Policy

log = logging.getLogger(__name__)

SOURCE = "backfill"
DEFAULT_SINCE_DAYS = 365
"""Tickets not updated for a year are not imported unless `--since` reaches further back."""
QUEUE_SECONDS_OF_BUDGET = 10
"""Backfill waits while more tickets wait for a worker than the tenant's budget reads back in this many seconds
(one read per imported ticket at worst), so a live webhook never queues behind more than that."""
MIN_MAX_QUEUED = 50
LOCK_SECONDS = 120.0
"""A backfill holds the tenant's backfill lock this long per page (renewed); a crashed one frees it soon."""
BACKLOG_POLL_SECONDS = 0.5


@dataclass
class BackfillReport:
    scanned: int = 0
    imported: int = 0
    skipped: int = 0
    """Solved, closed or deleted tickets the export listed: nothing to import."""
    events: int = 0
    """Events queued (repeats of an earlier run are deduplicated and not counted)."""
    pages: int = 0
    resumed: bool = False
    total: int | None = None


def default_max_queued(runtime: Runtime, tenant: str) -> int:
    per_minute = runtime.tenant(tenant).rate_limit.get("requests_per_minute", 200)
    return max(MIN_MAX_QUEUED, per_minute * QUEUE_SECONDS_OF_BUDGET // 60)


def history_events(record: TicketRecord, policy: Policy, groups: Mapping[str, str]) -> list[TicketEvent]:
    """The ticket's past as observation-only events at their real instants (see the module docstring)."""
    ticket = record.ticket_id
    group_name = groups.get(record.group_id) if record.group_id else None
    unit = policy.unit_for_group(group_name, record.group_id)
    first_tier = unit is None or unit.id == policy.tiers[0].id

    def event(delivery: str, kind: str, at: datetime, comment: Comment | None = None) -> TicketEvent:
        return TicketEvent(
            delivery_id=f"{SOURCE}:{ticket}:{delivery}",
            kind=kind,
            ticket_id=ticket,
            occurred_at=at,
            comment=comment,
            source=SOURCE,
            snapshot=record.snapshot,
        )

    answer = Comment("", public=True, author="agent")
    reply = record.first_reply_at
    events: list[TicketEvent] = []
    if first_tier:
        events.append(event("created", "ticket.created", record.created_at))
        if reply is not None and record.created_at <= reply <= record.updated_at:
            events.append(event("first-reply", "comment.added", reply, answer))
    if not events or record.updated_at > events[-1].occurred_at:
        events.append(event(f"updated:{format_instant(record.updated_at)}", "ticket.updated", record.updated_at))
    if not first_tier and reply is not None:
        # Agents have answered this ticket, but when its current tier first did is not in the export: the
        # first response is taken as given rather than reported as a breach that may never have happened.
        events.append(event("first-reply", "comment.added", record.updated_at, answer))
    return events


class Backfill:
    def __init__(
        self,
        runtime: Runtime,
        tenant: str,
        *,
        out: TextIO,
        err: TextIO,
        max_queued: int | str | None = "auto",
        export_budget: Budget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        interactive: bool | None = None,
    ) -> None:
        self.runtime, self.tenant = runtime, tenant
        self.out, self.err = out, err
        self.max_queued = default_max_queued(runtime, tenant) if max_queued == "auto" else max_queued
        self.sleep = sleep
        self.interactive = interactive
        self.key = state_key(tenant, "backfill")
        self.progress: Progress | None = None
        self.report = BackfillReport()
        self.pacer = export_pacer(runtime, tenant, export_budget, on_wait=self._export_wait)

    def run(self, since: datetime, *, restart: bool = False, dry_run: bool = False) -> BackfillReport:
        busy = BackfillBusy(f"another backfill of {self.tenant} is running (lock {self.key}:lock)")
        what = f"backfill lock of {self.tenant}"
        with held_lock(self.runtime.redis, self.key + ":lock", LOCK_SECONDS, busy, what) as renew:
            return self._run(since, restart=restart, dry_run=dry_run, renew=renew)

    def _run(self, since: datetime, *, restart: bool, dry_run: bool, renew: Callable[[], object]) -> BackfillReport:
        saved = {keys.as_text(k): keys.as_text(v) for k, v in self.runtime.redis.hgetall(self.key).items()}
        report = self.report = BackfillReport()
        checkpoint: str | None = None
        started_at = datetime.now(UTC).replace(microsecond=0)
        if saved.get("state") == "running" and not restart and not dry_run:
            report.resumed = True
            since = parse_instant(saved.get("since")) or since
            started_at = parse_instant(saved.get("started_at")) or started_at
            checkpoint = saved.get("checkpoint") or None
            report.scanned, report.imported = int(saved.get("scanned", 0)), int(saved.get("imported", 0))
            report.skipped, report.events = int(saved.get("skipped", 0)), int(saved.get("events", 0))
            say(self.out, f"backfill {self.tenant}: resuming from the checkpoint ({report.imported:,} tickets done)")
        elif not dry_run:
            self.runtime.redis.delete(self.key)
            self._save({"state": "running", "since": format_instant(since), "started_at": format_instant(started_at)})
        export = ticket_export(self.runtime, self.tenant, self.pacer)
        policy = self.runtime.policy(self.tenant)
        groups = _groups(self.runtime, self.tenant)
        report.total = export.count_open()
        verb = "would import" if dry_run else "importing"
        window = f"updated since {format_instant(since.replace(microsecond=0))}"
        say(self.out, f"backfill {self.tenant}: {verb} the tickets not solved or closed, {window}")
        self.progress = Progress(self.err, f"backfill {self.tenant}:", total=report.total, interactive=self.interactive)
        self.progress.update(report.imported, report.scanned, force=True)
        pages = export.pages(since=since, checkpoint=checkpoint)
        while True:
            try:
                page = next(pages)
            except StopIteration:
                break
            except RateLimited as error:
                # Zendesk's own limit answered (another integration exports too): wait it out and go on.
                self._note(f"export rate limited by the help desk, waiting {error.retry_after:.0f}s")
                self.sleep(error.retry_after)
                pages = export.pages(since=since, checkpoint=checkpoint)
                continue
            self._import(page, policy, groups, report, dry_run)
            checkpoint = page.checkpoint
            report.pages += 1
            if not dry_run:
                renew()
                self._save(
                    {
                        "checkpoint": checkpoint,
                        "scanned": report.scanned,
                        "imported": report.imported,
                        "skipped": report.skipped,
                        "events": report.events,
                    }
                )
        self.progress.update(report.imported, report.scanned)
        self.progress.finish("done")
        if not dry_run:
            self._save({"state": "done", "finished_at": format_instant(datetime.now(UTC))})
            # Reconciliation carries on from where the backfill's view of the help desk began.
            self.runtime.redis.hsetnx(state_key(self.tenant, "reconcile"), "since", format_instant(started_at))
        return report

    def _import(
        self, page: ExportPage, policy: Policy, groups: Mapping[str, str], report: BackfillReport, dry_run: bool
    ) -> None:
        for record in page.tickets:
            report.scanned += 1
            if not record.open:
                report.skipped += 1
                continue
            if not dry_run:
                self._wait_for_workers(report)
                for event in history_events(record, policy, groups):
                    report.events += int(self.runtime.accept(self.tenant, event))
            report.imported += 1
            if report.scanned % 100 == 0:
                self._note("")
        self._note("")

    def _wait_for_workers(self, report: BackfillReport) -> None:
        if not isinstance(self.max_queued, int):
            return
        while self.runtime.queue.backlog(self.tenant)["ready"] >= self.max_queued:
            self._note(f"{self.max_queued:,} tickets wait for a worker: is `escalator worker` running?")
            self.sleep(BACKLOG_POLL_SECONDS)

    def _export_wait(self, seconds: float) -> None:
        self._note(f"pacing the help desk's export limit, next page in {seconds:.0f}s")

    def _note(self, note: str) -> None:
        if self.progress is not None:
            self.progress.update(self.report.imported, self.report.scanned, note)

    def _save(self, fields: Mapping[str, str | int]) -> None:
        self.runtime.redis.hset(self.key, mapping={name: value for name, value in fields.items()})


class BackfillBusy(Exception):
    """Another backfill of the same tenant holds the lock."""


def _groups(runtime: Runtime, tenant: str) -> dict[str, str]:
    return runtime.client(tenant).groups()
