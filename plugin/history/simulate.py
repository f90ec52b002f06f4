"""`escalator simulate`: a policy replayed over a history file, ticket by ticket, on a virtual clock.

Each ticket is replayed by `replay.replay_ticket` (the live worker's fold, plan and timers; see there for the
virtual clock and how Escalator's writes meet later history); this module streams the file's tickets through
it, adds each ticket's outcome to the summary of DESIGN §9, and hands the ticket's own result to a sink (the
output writer spools the `per_ticket` entries to disk), so memory follows one ticket, not the file. With two
policies (`--compare`) every ticket is replayed through both, one after the other, and the tickets whose
actions or final placement differ are listed.

Bad lines are reported (line number, JSON path, reason) and skipped; the run goes on. Events the engine
cannot evaluate are reported the same way, as the worker dead-letters them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalator.plugin.history.critical import CriticalRecord
from escalator.plugin.history.reader import ProblemLog, Source, index_history
from escalator.plugin.history.records import LineProblem
from escalator.plugin.history.replay import TicketRun, replay_ticket
from escalator.rules.facts import HISTORY_FIELDS
from escalator.rules.model import format_instant
from escalator.rules.policy import Policy


@dataclass
class Summary:
    """The counts of DESIGN §9 for one policy, added to ticket by ticket. `escalations` leave out routing (an
    escalate action placing a ticket at its creation, DESIGN §5), which `routed` counts; `per_ticket` lists
    every escalate action, routing included."""

    label: str
    tickets: int = 0
    events: int = 0
    timer_events: int = 0
    escalations_by_rule: Counter[str] = field(default_factory=Counter)
    escalations_by_target: Counter[str] = field(default_factory=Counter)
    routed_by_rule: Counter[str] = field(default_factory=Counter)
    routed_by_target: Counter[str] = field(default_factory=Counter)
    replies: int = 0
    notes: int = 0
    priority_changes: int = 0
    other_actions: Counter[str] = field(default_factory=Counter)
    """Assignments and tag changes, by action."""
    reaching: Counter[str] = field(default_factory=Counter)
    sla: dict[str, Counter[str]] = field(default_factory=dict)
    bounces: int = 0
    bounced_tickets: int = 0
    escalated_tickets: int = 0

    def add(self, policy: Policy, run: TicketRun) -> None:
        self.tickets += 1
        self.events += run.events
        self.timer_events += run.timer_events
        escalated = False
        for action in run.actions:
            kind = action.action
            if kind == "escalate" and action.routing:
                self.routed_by_rule[action.rule] += 1
                self.routed_by_target[action.to or "?"] += 1
            elif kind == "escalate":
                escalated = True
                self.escalations_by_rule[action.rule] += 1
                self.escalations_by_target[action.to or "?"] += 1
            elif kind == "reply":
                self.replies += 1
            elif kind == "note":
                self.notes += 1
            elif kind == "set_priority":
                self.priority_changes += 1
            else:
                self.other_actions[kind] += 1
        self.escalated_tickets += escalated
        self.reaching.update({group for group in run.state.groups if policy.unit(group) is not None})
        for entry in run.sla:
            outcome = str(entry.get("outcome"))
            self.sla.setdefault(str(entry.get("metric")), Counter())[outcome] += 1
        for metric, clock in run.state.clocks.items():
            if clock.get("done_at") is None and 1.0 not in clock.get("alerted", ()):
                self.sla.setdefault(metric, Counter())["running"] += 1
        self.bounces += run.state.bounces
        self.bounced_tickets += run.state.bounces > 0

    def to_json(self) -> dict[str, Any]:
        """The summary keys of DESIGN §9 (fixed), then this implementation's extra counts."""
        return {
            "tickets": self.tickets,
            "events": self.events,
            "escalations": {
                "total": sum(self.escalations_by_rule.values()),
                "by_rule": dict(self.escalations_by_rule.most_common()),
                "by_target": dict(self.escalations_by_target.most_common()),
            },
            "replies": self.replies,
            "notes": self.notes,
            "priority_changes": self.priority_changes,
            "tickets_reaching": dict(sorted(self.reaching.items())),
            "sla": {
                metric: {"met": counts["met"], "breached": counts["breached"], "running": counts["running"]}
                for metric, counts in sorted(self.sla.items())
            },
            "bounces": self.bounces,
            "routed": {
                "total": sum(self.routed_by_rule.values()),
                "by_rule": dict(self.routed_by_rule.most_common()),
                "by_target": dict(self.routed_by_target.most_common()),
            },
            "timer_events": self.timer_events,
            "escalated_tickets": self.escalated_tickets,
            "bounced_tickets": self.bounced_tickets,
            "other_actions": dict(sorted(self.other_actions.items())),
        }


def ticket_json(run: TicketRun) -> dict[str, Any]:
    """One ticket's `per_ticket` entry (DESIGN §9)."""
    cache: dict[datetime, str] = {}
    actions = []
    for action in run.actions:
        instant = cache.get(action.at)
        if instant is None:
            instant = cache[action.at] = format_instant(action.at)
        actions.append(action.to_json(instant))
    return {
        "final_tier": run.final_tier,
        "final_team": run.final_team,
        "final_priority": run.final_priority,
        "actions": actions,
    }


def differs(first: TicketRun, second: TicketRun) -> bool:
    """Whether two policies treated a ticket differently: other actions (or the same at other instants), or
    another final tier, team or priority."""
    return (
        first.actions != second.actions
        or first.final_tier != second.final_tier
        or first.final_team != second.final_team
        or first.final_priority != second.final_priority
    )


TicketSink = Callable[[str, Sequence[TicketRun]], None]
"""Called once per ticket with its runs (one per policy, in order)."""


@dataclass
class Simulation:
    """The whole replay: the policies, the end of the virtual clock, and what it found."""

    policies: Sequence[tuple[str, Policy]]
    until: datetime | None = None
    """Timers fire up to here and later lines are not replayed; None: the file's last instant."""
    problems: ProblemLog = field(default_factory=ProblemLog)
    summaries: list[Summary] = field(init=False)
    changed: list[str] = field(default_factory=list)
    """With two policies: the tickets they treated differently, in file order."""
    engine_problems: list[str] = field(default_factory=list)
    """Events the engine could not evaluate and runaway timers (the first 100)."""
    engine_problem_count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    tickets_in_file: int = 0

    def __post_init__(self) -> None:
        self.summaries = [Summary(label) for label, _policy in self.policies]
        self._critical = [CriticalRecord() for _policy in self.policies]

    def run(
        self,
        source: Source,
        sink: TicketSink | None = None,
        *,
        only: str | None = None,
        trace: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Replay every ticket of `source`, or only the ticket `only` (`trace` keeps each step). For one ticket,
        the tickets before it are replayed too when the policy reads history facts (see `critical`)."""
        reads_history = any(name in policy.fields_read for _label, policy in self.policies for name in HISTORY_FIELDS)
        with index_history(source, on_problem=self.problems) as index:
            self.first_at, self.last_at = index.first_at, index.last_at
            self.tickets_in_file = index.ticket_count
            until = self.until or index.last_at
            if self.until is None:
                self.until = until
            done = 0
            for ticket_id, records in index.tickets():
                chosen = only is None or ticket_id == only
                if not chosen and not reads_history:
                    continue
                runs = [
                    replay_ticket(policy, records, until, trace=trace and chosen, critical=critical)
                    for (_label, policy), critical in zip(self.policies, self._critical, strict=True)
                ]
                if not chosen or not any(run.events for run in runs):
                    continue  # a ticket replayed for the record only, or one whose lines all lie after --until
                self._record(ticket_id, runs)
                if sink is not None:
                    sink(ticket_id, runs)
                done += 1
                if progress is not None and done % 200 == 0:
                    progress(done, index.ticket_count)
                if only is not None:
                    break
            if progress is not None:
                progress(done, index.ticket_count)

    def _record(self, ticket_id: str, runs: list[TicketRun]) -> None:
        for summary, (_label, policy), run in zip(self.summaries, self.policies, runs, strict=True):
            summary.add(policy, run)
        for (label, _policy), run in zip(self.policies, runs, strict=True):
            for problem in run.problems:
                self.engine_problem_count += 1
                if len(self.engine_problems) < 100:
                    self.engine_problems.append(f"{label}: {problem}" if len(runs) > 1 else problem)
        if len(runs) == 2 and differs(runs[0], runs[1]):
            self.changed.append(ticket_id)


def problem_lines(log: ProblemLog, label: str, limit: int = 20) -> list[str]:
    """`FILE: line 17: $.ticket.status: ...` for the first `limit` problems, and how many more there were."""
    shown: list[LineProblem] = log.problems[:limit]
    lines = [f"{label}: {problem}" for problem in shown]
    if log.count > len(shown):
        lines.append(f"{label}: ... and {log.count - len(shown):,} more bad line(s), skipped")
    return lines
