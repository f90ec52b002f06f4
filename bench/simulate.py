"""`escalator simulate` speed and memory, against the time to just read the same file.

For each size: `escalator synth` writes a history (timed), then each measurement runs in its own process so
its peak RSS is its own (os.wait4):

- baseline 1, parse: every line through `records.parse_line` (what any replay must at least do);
- baseline 2, read grouped: `reader.tickets` (the index pass plus parsing, ticket by ticket: what simulate
  reads);
- simulate: the command itself, `escalator simulate RULES --history FILE --json` (per-ticket output
  included, written to a file), wall time and peak RSS; and the summary alone (`escalator simulate RULES
  --history FILE`, the issue's own command), wall time.

The aim (the issue): at least 20,000 tickets (~200,000 events) a minute on one core, memory flat as the
file grows, and `synth` then `simulate` of a 20,000-ticket month within a minute. `--profile` adds a
cProfile of a smaller replay, grouped by where the time goes.

    .venv/bin/python bench/simulate.py [--tickets 20000 40000] [--days 30] [--seed 1] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ESCALATOR = [PYTHON, "-m", "escalator.plugin.cli"]

PARSE = """
import sys, time
from escalator.plugin.history.records import parse_line
started = time.perf_counter()
count = 0
with open(sys.argv[1], "rb") as stream:
    for number, raw in enumerate(stream, 1):
        parse_line(raw, number)
        count += 1
print(time.perf_counter() - started, count)
"""
GROUPED = """
import sys, time
from escalator.plugin.history.reader import tickets
started = time.perf_counter()
count = sum(len(records) for _ticket, records in tickets(sys.argv[1]))
print(time.perf_counter() - started, count)
"""


def run_one(command: list[str], sink: str | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MiB, stdout) of a command run in its own process (its own peak: os.wait4)."""
    started = time.perf_counter()
    out_file = open(sink, "w") if sink else None  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command, stdout=out_file or subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True
        )
        stdout = process.stdout.read() if process.stdout else ""
        stderr = process.stderr.read() if process.stderr else ""
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if out_file:
            out_file.close()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr}")
    return elapsed, usage.ru_maxrss // 1024, stdout


def bench_size(directory: Path, tickets: int, days: int, seed: int, rules: str) -> dict[str, float]:
    history = directory / f"h{tickets}.jsonl"
    synth_s, _peak, _ = run_one(
        [
            *ESCALATOR,
            "synth",
            "--tickets",
            str(tickets),
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--out",
            str(history),
        ]
    )
    _seconds, parse_peak, out = run_one([PYTHON, "-c", PARSE, str(history)])
    parse_inner, lines = (float(part) for part in out.split())
    _seconds, grouped_peak, out = run_one([PYTHON, "-c", GROUPED, str(history)])
    grouped_inner = float(out.split()[0])
    report = directory / "report.json"
    simulate_s, simulate_peak, _ = run_one(
        [*ESCALATOR, "simulate", rules, "--history", str(history), "--json"], sink=str(report)
    )
    summary_s, summary_peak, _ = run_one([*ESCALATOR, "simulate", rules, "--history", str(history)])
    timer_events = _summary_number(report, "timer_events")
    print(
        f"{tickets:>7,} tickets, {int(lines):>9,} events ({history.stat().st_size / 2**20:,.0f} MiB); "
        f"synth {synth_s:5.1f} s"
    )
    row = "    {:<24}{:7.1f} s  ({:>9,.0f} {}/s)  peak {:5,} MiB"
    print(row.format("baseline: parse only", parse_inner, lines / parse_inner, "lines", parse_peak))
    print(row.format("baseline: read grouped", grouped_inner, lines / grouped_inner, "lines", grouped_peak))
    print(row.format("simulate --json", simulate_s, lines / simulate_s, "events", simulate_peak))
    print(row.format("simulate (summary only)", summary_s, lines / summary_s, "events", summary_peak))
    print(
        f"    = {tickets / simulate_s * 60:,.0f} tickets/min; {timer_events:,} timer events besides the history's; "
        f"{simulate_s / parse_inner:.0f}x the parse; synth then simulate: {synth_s + summary_s:.1f} s"
    )
    return {
        "tickets": tickets,
        "seconds": simulate_s,
        "peak": simulate_peak,
        "per_minute": tickets / simulate_s * 60,
        "synth_then_simulate": synth_s + summary_s,
    }


def _summary_number(report: Path, key: str) -> int:
    """One count of the report's summary, read from its head: loading the whole report (every ticket's
    actions) would grow this process, and a child forked after that inherits the size in its peak RSS."""
    with report.open() as stream:
        for line in stream:
            if line.startswith(f'  "{key}": '):
                return int(json.loads(line.split(":", 1)[1].strip().rstrip(",")))
            if line.startswith('  "per_ticket"'):
                break
    return 0


AREAS = (
    ("rules/engine.py", "engine: evaluate (rest)"),
    ("rules/observe.py", "engine: observe"),
    ("rules/pausing.py", "engine: pausing"),
    ("rules/actions.py", "engine: actions"),
    ("rules/messages.py", "engine: message contexts and times"),
    ("rules/telling.py", "engine: message contexts and times"),
    ("babel", "engine: message contexts and times"),
    ("rules/sla.py", "engine: SLA clocks"),
    ("rules/calendar.py", "engine: calendars"),
    ("rules/schedule.py", "engine: desired_timers"),
    ("rules/conditions.py", "engine: conditions"),
    ("rules/operators.py", "engine: conditions"),
    ("rules/keywords.py", "engine: conditions"),
    ("rules/facts.py", "engine: conditions"),
    ("rules/templates.py", "engine: templates"),
    ("jinja2", "engine: templates"),
    ("rules/model.py", "engine: instants (parse/format)"),
    ("rules/plan.py", "engine: plans"),
    ("rules/fold.py", "engine: fold"),
    ("rules/state.py", "engine: state"),
    ("<string>", "records' __init__ (dataclasses)"),
    ("plugin/history/records.py", "history: parsing"),
    ("plugin/history/shape.py", "history: parsing"),
    ("plugin/history/reader.py", "history: reading"),
    ("json", "history: parsing"),
    ("plugin/history/replay.py", "simulate: replay loop"),
    ("plugin/history/attribution.py", "simulate: actions per ticket"),
    ("plugin/clock.py", "simulate: timer events (plugin.clock)"),
    ("plugin/history/simulate.py", "simulate: summary"),
)


def profile(directory: Path, tickets: int, days: int, seed: int, rules: str) -> None:
    """Where a replay's time goes, by area (own time of each function, summed)."""
    sys.path.insert(0, str(ROOT))
    from escalator.plugin.history.simulate import Simulation
    from escalator.plugin.history.synth import write_history
    from escalator.rules.loader import load_policy_file

    history = directory / "profile.jsonl"
    with history.open("w") as out:
        write_history(out, tickets=tickets, days=days, seed=seed, start=_start())
    simulation = Simulation([(rules, load_policy_file(str(ROOT / rules)))])
    profiler = cProfile.Profile()
    profiler.enable()
    simulation.run(history)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = 0.0
    by_area: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for (filename, _line, name), (_cc, count, own, _cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total += own
        area = next((label for part, label in AREAS if part in filename), f"other ({Path(filename).name})")
        if name == "evaluate" and "rules/engine.py" in filename:
            calls["evaluations"] += count
        by_area[area] += own
    summary = simulation.summaries[0]
    print(
        f"\nprofile: {tickets:,} tickets, {summary.events:,} history + {summary.timer_events:,} timer events, "
        f"{calls['evaluations']:,} evaluations, {total:.1f} s under cProfile"
    )
    for area, seconds in sorted(by_area.items(), key=lambda item: -item[1])[:16]:
        print(f"    {area:<48}{seconds:7.2f} s  {seconds / total:6.1%}")
    print("\n  top functions by own time:")
    stats.sort_stats("tottime").print_stats(12)


def _start() -> object:
    from datetime import UTC, datetime

    return datetime(2026, 3, 2, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[20_000, 40_000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", default="rules/seed-policy.json")
    parser.add_argument("--profile", action="store_true", help="also profile a 2,000-ticket replay")
    args = parser.parse_args()
    print(f"escalator simulate {args.rules}: {os.cpu_count()} CPUs here, one used; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="escalator-bench-") as name:
        directory = Path(name)
        results = [bench_size(directory, tickets, args.days, args.seed, args.rules) for tickets in args.tickets]
        if len(results) > 1:
            first, last = results[0], results[-1]
            growth = last["peak"] / max(first["peak"], 1)
            print(
                f"memory: peak {first['peak']:,} MiB at {first['tickets']:,} tickets, {last['peak']:,} MiB at "
                f"{last['tickets']:,} ({growth:.2f}x for {last['tickets'] / first['tickets']:.0f}x the file)"
            )
        aim = 20_000
        verdict = "meets" if all(result["per_minute"] >= aim for result in results) else "MISSES"
        print(f"aim: {aim:,} tickets/min on one core: {verdict} it")
        month = next((result for result in results if result["tickets"] == aim), None)
        if month is not None:
            within = "meets" if month["synth_then_simulate"] <= 60 else "MISSES"
            print(f"aim: synth then simulate of {aim:,} tickets within a minute: {within} it")
        if args.profile:
            profile(directory, 2_000, args.days, args.seed, args.rules)


if __name__ == "__main__":
    main()
