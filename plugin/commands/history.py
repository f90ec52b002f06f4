"""`escalator export`, `simulate` and `synth`: history files (DESIGN §9) and backtesting a policy on them.

`simulate` and `synth` touch neither Redis nor a help desk; `export` reads the help desk and keeps its
checkpoint and the shared export rate limit in the deployment's Redis.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from escalator.plugin.commands.common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    config_from_env,
    connect_checked,
    fail,
    instant_arg,
    known_tenant,
    load_rules_reporting,
    reads,
    redis_url,
    since_arg,
)
from escalator.rules.model import format_instant

if TYPE_CHECKING:
    from escalator.plugin.admin.progress import Progress
    from escalator.plugin.history.simulate import Simulation

SYNTH_START = "2026-03-02T00:00:00Z"
"""`synth`'s default first day (a Monday): fixed, so the same arguments always write the same file."""
EXPORT_OPTIONAL_ENV = ("webhook_secret",)
"""An export reads the help desk; it does not need the webhook's signing secret."""


# --- simulate --------------------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    from escalator.plugin.admin.progress import Progress
    from escalator.plugin.history.report import JsonReport, print_compare, print_problems, print_summary, problems_json
    from escalator.plugin.history.simulate import Simulation

    history = Path(args.history)
    if not history.is_file():
        return fail(f"no history file {args.history} (write one with `escalator export` or `escalator synth`)")
    labels = [args.rules, *([args.compare] if args.compare else [])]
    policies = [(label, load_rules_reporting(label, sys.stderr)) for label in labels]
    loaded = [(label, policy) for label, policy in policies if policy is not None]
    if len(loaded) != len(policies):
        return EXIT_PROBLEM
    simulation = Simulation(loaded, until=args.until)
    if args.ticket is not None:
        return _trace(args, simulation)
    report = JsonReport(len(loaded)) if args.json else None
    progress = Progress(sys.stderr, "simulate:") if sys.stderr.isatty() else None
    try:
        simulation.run(
            history,
            report.add if report is not None else None,
            progress=_ticker(progress),
        )
    except OSError as error:
        return fail(f"cannot read {args.history}: {error.strerror or error}")
    if progress is not None:
        progress.finish()
    print_problems(sys.stderr, simulation, args.history)
    if report is not None:
        extra = {"until": format_instant(simulation.until) if simulation.until else None}
        report.write(sys.stdout, simulation, {**extra, "problems": problems_json(simulation)})
    elif len(loaded) > 1:
        print_compare(sys.stdout, simulation, args.history)
    else:
        print_summary(sys.stdout, simulation, args.history)
    return EXIT_OK


def _ticker(progress: Progress | None) -> Callable[[int, int], None] | None:
    if progress is None:
        return None

    def tick(done: int, total: int) -> None:
        progress.total = total
        progress.update(done, done)

    return tick


def _trace(args: argparse.Namespace, simulation: Simulation) -> int:
    from escalator.plugin.history.replay import TicketRun
    from escalator.plugin.history.report import print_problems, trace_json, trace_lines

    found: list[list[TicketRun]] = []
    simulation.run(Path(args.history), lambda _ticket, runs: found.append(list(runs)), only=args.ticket, trace=True)
    print_problems(sys.stderr, simulation, args.history)
    if not found:
        return fail(f"no ticket {args.ticket} in {args.history}", EXIT_PROBLEM)
    labels = [label for label, _policy in simulation.policies]
    if args.json:
        traces = [trace_json(label, args.ticket, run) for label, run in zip(labels, found[0], strict=True)]
        print(json.dumps(traces[0] if len(traces) == 1 else {"a": traces[0], "b": traces[1]}, indent=2))
        return EXIT_OK
    for index, (label, run) in enumerate(zip(labels, found[0], strict=True)):
        if index:
            print()
        print("\n".join(trace_lines(label, args.ticket, run)))
    return EXIT_OK


# --- synth -----------------------------------------------------------------------------------------------


def cmd_synth(args: argparse.Namespace) -> int:
    from escalator.plugin.history.synth import write_history

    if args.tickets < 0 or args.days <= 0:
        return fail("--tickets must be 0 or more and --days more than 0")
    out: TextIO
    if args.out == "-":
        out = sys.stdout
        stats = write_history(out, tickets=args.tickets, days=args.days, seed=args.seed, start=args.start)
    else:
        try:
            with open(args.out, "w", encoding="utf-8", newline="\n") as out:
                stats = write_history(out, tickets=args.tickets, days=args.days, seed=args.seed, start=args.start)
        except OSError as error:
            return fail(f"cannot write {args.out}: {error.strerror or error}")
    window = ""
    if stats.first_at is not None and stats.last_at is not None:
        window = f" from {format_instant(stats.first_at)} to {format_instant(stats.last_at)}"
    print(
        f"synth: {stats.tickets:,} tickets, {stats.events:,} events{window} (seed {args.seed}) -> {args.out}; "
        f"{stats.keyword_tickets:,} with a routing phrase, {stats.escalated_tickets:,} escalated by hand, "
        f"{stats.enterprise_tickets:,} enterprise",
        file=sys.stderr,
    )
    return EXIT_OK


# --- export ----------------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from escalator.connectors.errors import VendorError
    from escalator.plugin.history.export import ExportBusy, HistoryExportRun
    from escalator.plugin.runtime import Runtime

    config = config_from_env(EXPORT_OPTIONAL_ENV)
    known_tenant(config, args.tenant)
    url = redis_url("export keeps its checkpoint (to resume) and the help desk's shared export rate limit in Redis")
    runtime = Runtime(config, connect_checked(url, "commands"))
    run = HistoryExportRun(runtime, args.tenant, Path(args.out), err=sys.stderr, say_to=sys.stderr)
    try:
        report = run.run(args.since, restart=args.restart)
    except ExportBusy as error:
        return fail(str(error), EXIT_PROBLEM)
    except OSError as error:
        return fail(f"cannot write {args.out}: {error.strerror or error}", EXIT_USAGE)
    except VendorError as error:
        if error.status in (0, 401, 403, 429) or error.status >= 500:
            raise  # the help desk is unreachable or refuses us: exit 4 (see cli.main)
        return fail(f"export stopped (run it again to continue from the checkpoint): {error}", EXIT_PROBLEM)
    print(
        f"export {args.tenant}: {report.lines:,} lines from {report.read:,} help-desk records -> {args.out}"
        + (" (resumed)" if report.resumed else ""),
    )
    return EXIT_OK


# --- the parsers ---------------------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="write the help desk's ticket history as a history file (for simulate); resumable",
        description="Reads the tenant's ticket history from the help desk (Zendesk: the incremental ticket-event "
        "export; Freshdesk: tickets and their conversations) and writes it as a history file ("
        "rules/history.schema.json), streamed, with a progress bar. Interrupted, the same command continues "
        "from its checkpoint; --restart starts over. Escalator's own updates are left out.",
        epilog=reads("config", "redis", "secrets")
        + ". REDIS_URL is required: the checkpoint and the export rate limit shared with the workers live there.",
    )
    export.add_argument("tenant")
    export.add_argument(
        "--since",
        type=since_arg("30d"),
        default="30d",
        help="tickets changed since (ISO 8601 or a duration; default 30d)",
    )
    export.add_argument("--out", required=True, metavar="FILE", help="the history file to write")
    export.add_argument("--restart", action="store_true", help="start over instead of resuming the checkpoint")
    export.set_defaults(run=cmd_export)

    simulate = commands.add_parser(
        "simulate",
        help="replay a history file through a policy on a virtual clock: what would it have done?",
        description="Replays every ticket of a history file through the live worker's engine: SLA, idle and "
        "progress timers fire at their virtual instants, and what Escalator would write is applied to the "
        "simulated ticket so later rules see it. Prints the escalations, replies, notes, priority changes, "
        "tiers reached, SLA outcomes and bounces; --json adds every ticket's actions. Bad lines are reported "
        "with their line number and skipped. Touches neither Redis nor a help desk.",
        epilog="environment: none",
    )
    simulate.add_argument("rules", metavar="RULES")
    simulate.add_argument("--history", required=True, metavar="FILE", help="a history file (.jsonl, or .jsonl.gz)")
    simulate.add_argument(
        "--until", type=instant_arg, help="run the virtual clock to this instant (default: the file's last event)"
    )
    simulate.add_argument("--compare", metavar="RULES2", help="also replay through RULES2 and show what changes")
    simulate.add_argument("--json", action="store_true", help="machine-readable output: summary and per-ticket actions")
    simulate.add_argument("--ticket", metavar="ID", help="print one ticket's full trace: every step, reason, timer")
    simulate.set_defaults(run=cmd_simulate)

    synth = commands.add_parser(
        "synth",
        help="write a realistic synthetic history file, for demos and benchmarks",
        description="A reproducible synthetic help-desk history (the same arguments write the same bytes): "
        "customers, agents, business hours, keyword tickets, hand escalations, bounces and reopenings, without "
        "Escalator. Touches neither Redis nor a help desk.",
        epilog="environment: none",
    )
    synth.add_argument("--tickets", type=int, required=True, metavar="N")
    synth.add_argument("--days", type=int, required=True, metavar="D")
    synth.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    synth.add_argument(
        "--start", type=instant_arg, default=SYNTH_START, help=f"the first day, UTC (default {SYNTH_START})"
    )
    synth.add_argument("--out", required=True, metavar="FILE", help="where to write; - for standard output")
    synth.set_defaults(run=cmd_synth)
