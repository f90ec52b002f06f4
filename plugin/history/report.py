"""What `escalator simulate` prints: the summary for people, the JSON of DESIGN §9 for machines, and one
ticket's trace.

The JSON's `per_ticket` object grows with the file, so its entries are spooled to a temporary file as the
tickets finish and copied out at the end: memory stays flat however many tickets the history holds.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from typing import IO, Any, TextIO

from escalator.plugin.history.replay import Step, TicketRun
from escalator.plugin.history.simulate import Simulation, Summary, problem_lines, ticket_json
from escalator.rules.model import format_instant

SHOWN_CHANGED = 20
"""Tickets listed by name in the human-readable comparison (the JSON lists them all)."""
TRACE_TIMERS = 3
"""Armed timers shown per step in a human-readable trace, earliest first (the JSON lists them all)."""


class JsonReport:
    """`--json`: the summary (or `{"a", "b", "changed"}` with `--compare`), `per_ticket` spooled to disk."""

    def __init__(self, policies: int) -> None:
        self.compare = policies > 1
        self.indent = "      " if self.compare else "    "
        self.spools: list[IO[str]] = [tempfile.TemporaryFile("w+", encoding="utf-8") for _ in range(policies)]  # noqa: SIM115
        self.count = 0

    def add(self, ticket_id: str, runs: Sequence[TicketRun]) -> None:
        key = json.dumps(ticket_id, ensure_ascii=False)
        separator = ",\n" if self.count else "\n"
        for spool, run in zip(self.spools, runs, strict=True):
            entry = json.dumps(ticket_json(run), ensure_ascii=False, separators=(",", ":"))
            spool.write(f"{separator}{self.indent}{key}: {entry}")
        self.count += 1

    def write(self, out: TextIO, simulation: Simulation, extra: dict[str, Any]) -> None:
        try:
            if not self.compare:
                self._object(out, {**simulation.summaries[0].to_json(), **extra}, self.spools[0], "")
            else:
                out.write("{\n")
                for name, summary, spool in zip(("a", "b"), simulation.summaries, self.spools, strict=True):
                    out.write(f'  "{name}": ')
                    self._object(out, {"rules": summary.label, **summary.to_json()}, spool, "  ")
                    out.write(",\n")
                changed = json.dumps(simulation.changed, ensure_ascii=False)
                tail = json.dumps(extra, indent=2, ensure_ascii=False)[1:-2]
                out.write(f'  "changed": {changed},{tail}\n}}')
            out.write("\n")
        finally:
            for spool in self.spools:
                spool.close()

    def _object(self, out: TextIO, head: dict[str, Any], spool: IO[str], indent: str) -> None:
        text = json.dumps(head, indent=2, ensure_ascii=False)
        out.write(text[:-2].replace("\n", "\n" + indent))
        out.write(f',\n{indent}  "per_ticket": {{')
        spool.seek(0)
        shutil.copyfileobj(spool, out)
        out.write(f"\n{indent}  }}\n{indent}}}" if self.count else f"}}\n{indent}}}")


def _count(value: int) -> str:
    return f"{value:,}"


def _top(counter: Counter[str], limit: int = 8) -> str:
    items = counter.most_common()
    shown = " · ".join(f"{name} {_count(value)}" for name, value in items[:limit])
    rest = len(items) - limit
    return shown + (f" · {rest} more" if rest > 0 else "") if items else "none"


def _sla_line(counts: Counter[str]) -> str:
    met, breached = counts["met"], counts["breached"]
    share = f"  ({met / (met + breached):.1%} met)" if met + breached else ""
    running = f" · still running {_count(counts['running'])}" if counts["running"] else ""
    return f"met {_count(met)} · breached {_count(breached)}{running}{share}"


def header(simulation: Simulation, history: str) -> list[str]:
    summary = simulation.summaries[0]
    rules = " and ".join(label for label, _policy in simulation.policies)
    window = ""
    if simulation.first_at is not None and simulation.until is not None:
        window = f", from {format_instant(simulation.first_at)} until {format_instant(simulation.until)}"
    return [
        f"simulated {rules} over {history}",
        f"  {_count(summary.tickets)} tickets, {_count(summary.events)} history events, "
        f"{_count(summary.timer_events)} timer events{window}",
    ]


def summary_lines(summary: Summary) -> list[str]:
    data = summary.to_json()
    rows = [
        ("escalations", f"{_count(data['escalations']['total'])}  ({_count(summary.escalated_tickets)} tickets)"),
        ("  by rule", _top(summary.escalations_by_rule)),
        ("  by target", _top(summary.escalations_by_target)),
        ("routed at creation", f"{_count(sum(summary.routed_by_rule.values()))}  ({_top(summary.routed_by_rule)})"),
        ("replies", _count(summary.replies)),
        ("notes", _count(summary.notes)),
        ("priority changes", _count(summary.priority_changes)),
        *((f"{kind.replace('_', ' ')}", _count(value)) for kind, value in sorted(summary.other_actions.items())),
        ("tickets reaching", _top(summary.reaching, 12)),
        *((f"SLA {metric}", _sla_line(counts)) for metric, counts in sorted(summary.sla.items())),
        ("bounces", f"{_count(summary.bounces)}  ({_count(summary.bounced_tickets)} tickets)"),
    ]
    return [f"{name:<22}{value}" for name, value in rows]


def print_summary(out: TextIO, simulation: Simulation, history: str) -> None:
    lines = [*header(simulation, history), "", *summary_lines(simulation.summaries[0]), ""]
    lines.append("per-ticket actions: --json; one ticket's steps: --ticket ID")
    out.write("\n".join(lines) + "\n")


def _compare_rows(a: Summary, b: Summary) -> list[tuple[str, int, int]]:
    rows = [("tickets", a.tickets, b.tickets)]
    rows.append(("escalations", sum(a.escalations_by_rule.values()), sum(b.escalations_by_rule.values())))
    for rule in sorted(set(a.escalations_by_rule) | set(b.escalations_by_rule)):
        rows.append((f"  by {rule}", a.escalations_by_rule[rule], b.escalations_by_rule[rule]))
    for target in sorted(set(a.escalations_by_target) | set(b.escalations_by_target)):
        rows.append((f"  to {target}", a.escalations_by_target[target], b.escalations_by_target[target]))
    rows.append(("routed at creation", sum(a.routed_by_rule.values()), sum(b.routed_by_rule.values())))
    rows += [
        ("escalated tickets", a.escalated_tickets, b.escalated_tickets),
        ("replies", a.replies, b.replies),
        ("notes", a.notes, b.notes),
        ("priority changes", a.priority_changes, b.priority_changes),
    ]
    for unit in sorted(set(a.reaching) | set(b.reaching)):
        rows.append((f"reaching {unit}", a.reaching[unit], b.reaching[unit]))
    for metric in sorted(set(a.sla) | set(b.sla)):
        first, second = a.sla.get(metric, Counter()), b.sla.get(metric, Counter())
        for outcome in ("met", "breached"):
            rows.append((f"SLA {metric} {outcome}", first[outcome], second[outcome]))
    rows.append(("bounces", a.bounces, b.bounces))
    return rows


def print_compare(out: TextIO, simulation: Simulation, history: str) -> None:
    a, b = simulation.summaries
    lines = [*header(simulation, history), ""]
    lines.append(f"{'':<30}{'A':>12}{'B':>12}{'B - A':>10}")
    for name, first, second in _compare_rows(a, b):
        delta = f"{second - first:+,}" if second != first else ""
        lines.append(f"{name:<30}{_count(first):>12}{_count(second):>12}{delta:>10}")
    lines.append(f"A: {a.label}")
    lines.append(f"B: {b.label}")
    changed = simulation.changed
    lines.append("")
    if changed:
        shown = ", ".join(changed[:SHOWN_CHANGED]) + (", ..." if len(changed) > SHOWN_CHANGED else "")
        lines.append(f"{_count(len(changed))} ticket(s) treated differently: {shown}")
        lines.append("all of them: --json; both traces of one: --ticket ID --compare RULES2")
    else:
        lines.append("no ticket is treated differently")
    out.write("\n".join(lines) + "\n")


def print_problems(err: TextIO, simulation: Simulation, history: str) -> None:
    for line in problem_lines(simulation.problems, history):
        print(f"escalator: {line}", file=err)
    for problem in simulation.engine_problems:
        print(f"escalator: {history}: {problem}", file=err)
    hidden = simulation.engine_problem_count - len(simulation.engine_problems)
    if hidden > 0:
        print(f"escalator: {history}: ... and {hidden:,} more events the engine could not evaluate", file=err)


def problems_json(simulation: Simulation) -> dict[str, Any]:
    return {
        "count": simulation.problems.count,
        "first": [
            {"line": problem.line_number, "path": problem.path, "message": problem.message}
            for problem in simulation.problems.problems
        ],
        "engine": simulation.engine_problems,
    }


# --- one ticket's trace ----------------------------------------------------------------------------------


def _place(step: Step) -> str:
    unit = step.team or step.tier or "-"
    return f"{unit} · {step.status or '-'} · priority {step.priority or '-'}"


def trace_lines(label: str, ticket_id: str, run: TicketRun) -> list[str]:
    lines = [f"ticket {ticket_id} through {label}"]
    for step in run.steps or []:
        lines.append(f"{format_instant(step.at)}  {step.cause:<7}  {step.what}")
        pad = " " * 30
        for reason in step.reasons:
            lines.append(f"{pad}{reason}")
        lines.append(f"{pad}-> {_place(step)}")
        if step.timers:
            armed = ", ".join(f"{name} at {format_instant(due)}" for name, due in step.timers[:TRACE_TIMERS])
            more = len(step.timers) - TRACE_TIMERS
            lines.append(f"{pad}next timers: {armed}" + (f" (+{more} more; --json lists all)" if more > 0 else ""))
    final = ticket_json(run)
    lines.append(
        f"final: tier {final['final_tier'] or '-'}, team {final['final_team'] or '-'}, "
        f"priority {final['final_priority'] or '-'}; {len(run.actions)} action(s), "
        f"{run.events} history event(s), {run.timer_events} timer event(s)"
    )
    lines.extend(f"problem: {problem}" for problem in run.problems)
    return lines


def trace_json(label: str, ticket_id: str, run: TicketRun) -> dict[str, Any]:
    return {
        "ticket": ticket_id,
        "rules": label,
        "steps": [
            {
                "at": format_instant(step.at),
                "cause": step.cause,
                "what": step.what,
                "reasons": list(step.reasons),
                "actions": [action.to_json(format_instant(action.at)) for action in step.actions],
                "tier": step.tier,
                "team": step.team,
                "status": step.status,
                "priority": step.priority,
                "timers": {name: format_instant(due) for name, due in step.timers},
            }
            for step in run.steps or []
        ],
        **ticket_json(run),
        "problems": run.problems,
    }
