"""One step of an incident: bring it as far as it can go now, and come back later for the rest.

A step is idempotent and may run any number of times (a timer and a worker job run it): it settles the bulk
jobs it recorded, makes the problem ticket once, tells the tickets waiting for the notice, and once the
problem is solved sends each ticket its resolution, then closes the incident. Every bulk send is recorded in
the incident before the help desk is asked, so a crash between the two is noticed, never repeated blindly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from escalator.connectors.base import IncidentDesk, Notice
from escalator.plugin import keys
from escalator.plugin.incidents.store import Incident, IncidentStore
from escalator.plugin.keys import KPI_DAYS_KEPT
from escalator.plugin.runtime import Runtime
from escalator.plugin.timers import TimerStore
from escalator.rules.incident_messages import IncidentFacts, Member, incident_context, render
from escalator.rules.model import parse_instant
from escalator.rules.policy import IncidentRule

log = logging.getLogger(__name__)

INCIDENT_TIMERS = "~incident"
"""The ticket part of an incident's timer key (`<tenant>:~incident:<incident id>`): no ticket id starts with ~."""
FLUSH_SECONDS = 20.0
"""How long tickets joining an open incident wait for their notice, so they are told in one bulk call."""
RETRY_SECONDS = 30.0
MAX_FAILURES = 3


def timer_key(tenant: str, incident_id: str) -> str:
    return f"{tenant}:{INCIDENT_TIMERS}:{incident_id}"


def schedule(timers: TimerStore, tenant: str, incident_id: str, delay: float) -> None:
    """Run the incident's next step in `delay` seconds, unless one is due sooner already."""
    key = timer_key(tenant, incident_id)
    due = time.time() + delay
    current = timers.due_of(key)
    if current is None or current > due:
        timers.arm(key, due)


class IncidentStep:
    def __init__(self, runtime: Runtime, tenant: str, sleep: Callable[[float], None] = time.sleep) -> None:
        ctx = runtime.context(tenant)
        self.runtime, self.tenant, self.policy = runtime, tenant, ctx.policy
        self.store = IncidentStore(runtime.redis, tenant)
        self.desk: IncidentDesk | None = ctx.connector.incidents(ctx.client, sleep)
        self.client = ctx.client
        self.resolution = ""

    def run(self, incident_id: str) -> Incident | None:
        incident = self.store.get(incident_id)
        if incident is None or incident.status == "closed":
            return incident
        rule = self.policy.incident_rule(incident.rule)
        if rule is None or self.desk is None:
            why = "its rule is gone from the rules file" if rule is None else "this help desk has no problem tickets"
            log.warning("incident %s/%s closed: %s", self.tenant, incident_id, why)
            return self._close(incident)
        self._settle(incident, self.desk)
        if incident.problem_id is None:
            self._make_problem(incident, rule, self.desk)
        self._send(incident, rule, self.desk)
        incident.counts = self.store.counts(incident.id)
        if incident.status == "resolving" and not incident.jobs and self._all_resolved(incident):
            return self._close(incident)
        self.store.save(incident)
        if incident.jobs or incident.counts.get("pending") or incident.status == "resolving":
            schedule(self.runtime.timers(self.tenant), self.tenant, incident.id, RETRY_SECONDS)
        return incident

    # --- the problem ticket ----------------------------------------------------------------------------------

    def _make_problem(self, incident: Incident, rule: IncidentRule, desk: IncidentDesk) -> None:
        if incident.creating_problem:
            incident.problem_id = desk.find_problem(incident.id)
        if incident.problem_id is None:
            incident.creating_problem = True
            self.store.save(incident)  # if the answer is lost, the next step looks before creating again
            members = self._members(incident)
            facts = self._facts(incident, members)
            context = incident_context(self.policy, rule, facts, None)
            unit = self.policy.unit(rule.escalate_to)
            incident.problem_id = desk.create_problem(
                incident_id=incident.id,
                subject=render(self.policy, rule.subject, context).splitlines()[0][:250],
                note=render(self.policy, rule.handoff, context),
                group=str(unit.group if unit is not None else rule.escalate_to),
                priority=rule.priority,
                members=[member.ticket_id for member in members],
            )
        incident.creating_problem = False
        self.store.save(incident)
        self._count(
            {"incidents": 1, "escalations": 1, "by_actor:rule": 1, f"by_rule:{rule.id}": 1,
             f"by_target:{rule.escalate_to}": 1}
        )  # fmt: skip
        log.info("incident %s/%s: problem ticket %s", self.tenant, incident.id, incident.problem_id)

    def _count(self, counts: dict[str, int]) -> None:
        """The incident in the KPIs (rules.kpi): one escalation, its tickets as affected."""
        day = datetime.now(UTC).date().isoformat()
        pipe = self.runtime.redis.pipeline(transaction=False)
        for name, n in counts.items():
            pipe.hincrby(keys.kpi_day(self.tenant, day), name, n)
        pipe.expire(keys.kpi_day(self.tenant, day), KPI_DAYS_KEPT * 24 * 3600)
        pipe.execute()

    # --- bulk sends -------------------------------------------------------------------------------------------

    def _send(self, incident: Incident, rule: IncidentRule, desk: IncidentDesk) -> None:
        busy = {ticket for job in incident.jobs for ticket in job["tickets"]}
        pending = {t: Member.from_dict(m) for t, m in self.store.pending(incident.id).items() if t not in busy}
        if incident.status == "resolving":
            told = {t: Member.from_dict(m) for t, m in self.store.told(incident.id).items()}
            self.resolution = self._solving_comment(incident)
            targets = {**told, **pending}
            resolved = self._resolved(incident)
            waiting = {t: m for t, m in targets.items() if t not in busy and t not in resolved}
            self._start(incident, rule, desk, waiting, rule.resolution, resolve=True)
        elif pending:
            self._start(incident, rule, desk, pending, rule.notice, resolve=False)

    def _start(
        self,
        incident: Incident,
        rule: IncidentRule,
        desk: IncidentDesk,
        members: dict[str, Member],
        template: str,
        *,
        resolve: bool,
    ) -> None:
        if not members or incident.problem_id is None:
            return
        facts = self._facts(incident, self._members(incident) or list(members.values()))
        notices = [
            Notice(ticket, self._render(template, rule, facts, member)) for ticket, member in sorted(members.items())
        ]
        kind = "resolve" if resolve else "link"
        placeholder = {"job": None, "kind": kind, "tickets": sorted(members)}
        incident.jobs.append(placeholder)
        self.store.save(incident)  # recorded before the help desk is asked
        started = desk.start(incident.problem_id, notices, resolve=resolve)
        incident.jobs.remove(placeholder)
        incident.jobs += [{"job": job, "kind": kind, "tickets": tickets} for job, tickets in started]
        self.store.save(incident)
        self._settle(incident, desk)

    def _settle(self, incident: Incident, desk: IncidentDesk) -> None:
        """Look at the recorded jobs: tickets reached move on, failed ones are tried again (a few times)."""
        still: list[dict[str, Any]] = []
        for job in list(incident.jobs):
            tickets = [str(ticket) for ticket in job["tickets"]]
            if job["job"] is None:  # asked, answer lost: count only what provably landed
                reached = desk.reached(incident.problem_id or "", tickets) if job["kind"] == "link" else set()
            else:
                finished = desk.finished(str(job["job"]))
                if finished is None:
                    still.append(job)
                    continue
                reached = finished
            self._record(incident, str(job["kind"]), tickets, reached)
        incident.jobs = still

    def _record(self, incident: Incident, kind: str, tickets: list[str], reached: set[str]) -> None:
        pending = self.store.pending(incident.id)
        if kind == "link":
            told = {t: pending[t] for t in tickets if t in reached and t in pending}
            self.store.notified(incident.id, told)
            if told:
                self._count({"incident_tickets": len(told)})
        else:
            told = self.store.told(incident.id)
            self.store.notified(incident.id, {t: pending[t] for t in tickets if t in reached and t in pending})
            self.store.resolved(incident.id, {t for t in tickets if t in reached and (t in told or t in pending)})
        for ticket in tickets:
            if ticket in reached:
                incident.failures.pop(ticket, None)
                continue
            incident.failures[ticket] = incident.failures.get(ticket, 0) + 1
            if incident.failures[ticket] >= MAX_FAILURES:
                log.warning("incident %s/%s: ticket %s refused %d bulk sends; given up", self.tenant, incident.id,
                            ticket, MAX_FAILURES)  # fmt: skip
                self._give_up(incident, ticket, kind)

    def _give_up(self, incident: Incident, ticket: str, kind: str) -> None:
        if kind == "link":
            self.runtime.redis.hdel(keys.incident_members(self.tenant, incident.id, "pending"), ticket)
        else:
            self.store.resolved(incident.id, {ticket})

    # --- helpers ----------------------------------------------------------------------------------------------

    def _render(self, template: str, rule: IncidentRule, facts: IncidentFacts, member: Member) -> str:
        context = incident_context(self.policy, rule, facts, member, self.resolution)
        return render(self.policy, template, context, member.locale)

    def _solving_comment(self, incident: Incident) -> str:
        """What the agent wrote publicly when solving the problem: what was done, for every customer."""
        latest = self.client.latest_comment(incident.problem_id) if incident.problem_id else None
        return " ".join(latest.body.split())[:1000] if latest is not None and latest.public else ""

    def _members(self, incident: Incident) -> list[Member]:
        everyone = {**self.store.told(incident.id), **self.store.pending(incident.id)}
        return [Member.from_dict(member) for _, member in sorted(everyone.items())]

    def _facts(self, incident: Incident, members: list[Member]) -> IncidentFacts:
        """The incident as its messages tell it; `members`: every ticket in it (told and pending)."""
        opened = parse_instant(incident.opened_at) or datetime.now(UTC)
        return IncidentFacts(incident.id, opened, incident.problem_id, tuple(members))

    def _resolved(self, incident: Incident) -> set[str]:
        return self.store.resolved_ids(incident.id)

    def _all_resolved(self, incident: Incident) -> bool:
        everyone = set(self.store.told(incident.id)) | set(self.store.pending(incident.id))
        return everyone <= self._resolved(incident)

    def _close(self, incident: Incident) -> Incident:
        incident.counts = self.store.counts(incident.id)
        self.store.close(incident, datetime.now(UTC))
        log.info("incident %s/%s closed: %s", self.tenant, incident.id, incident.counts)
        return incident
