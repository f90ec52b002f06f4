"""What `escalator metrics` costs with 100,000 tickets stored: the daily aggregates against a scan of every state.

    .venv/bin/python bench/kpi_report.py [--tickets 100000] [--days 90]

Fills a private redis-server with `--tickets` ticket states spread over `--days` days (about 1 in 5 escalated,
by rules and agents, with touches, bounces, SLA outcomes and solve times), writing each ticket's KPI changes
through the worker's own code (rules.kpi + plugin.recording.kpi_ops). Then reports the last 30 days twice:

- the aggregates (`plugin.metrics.kpi_report`, what the command runs): a few keys per day;
- the baseline, what a report without aggregates must do: SCAN every ticket state, read it, and recompute.

Prints for each: wall time, Redis commands (INFO commandstats) and bytes read, and whether both agree.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import private_redis  # noqa: E402
from escalator.plugin import keys  # noqa: E402
from escalator.plugin.metrics import kpi_report  # noqa: E402
from escalator.plugin.queue import EventQueue, Finish  # noqa: E402
from escalator.plugin.recording import kpi_ops  # noqa: E402
from escalator.rules.kpi import kpi_changes  # noqa: E402
from escalator.rules.model import format_instant  # noqa: E402
from escalator.rules.state import Escalation, TicketState  # noqa: E402

TENANT = "acme"
UNITS = ("L2", "L3", "finance", "security")


def synthetic_state(rng: random.Random, created: datetime) -> TicketState:
    """One ticket's final state, shaped like the worker's: most stay in L1 and are solved there."""
    state = TicketState(tier="L1", groups=["L1"], status="solved", priority=rng.choice(["normal", "high"]))
    at = created
    state.anchors = {"created": format_instant(at), "tier_entered": format_instant(at)}
    agents = [f"agent-{rng.randrange(40)}" for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:
        at += timedelta(minutes=rng.randint(5, 600))
        target = rng.choice(UNITS)
        by_agent = rng.random() < 0.4
        rule, by = ("", "agent") if by_agent else ("idle-unassigned", "rule")
        state.escalations.append(Escalation(format_instant(at), "L1", target, rule, by=by))
        state.groups.append(target)
        state.reassignments = 1
        state.tier, state.team = (target, None) if target.startswith("L") else ("L1", target)
        state.anchors.update(escalated=format_instant(at), tier_entered=format_instant(at))
        if rng.random() < 0.05:
            state.bounces, state.groups = 1, [*state.groups, "L1", "lead"]
    metric_at = created + timedelta(minutes=rng.randint(1, 240))
    outcome = "met" if rng.random() < 0.9 else "breached"
    state.sla_log = [{"metric": "first_response", "unit": "L1", "outcome": outcome, "at": format_instant(metric_at)}]
    state.agents = sorted(set(agents))
    state.touches = len(state.agents)
    solved = at + timedelta(hours=rng.uniform(0.5, 72))
    state.anchors["solved"] = format_instant(solved)
    state.last_event_at = format_instant(solved)
    return state


def fill(client: redis.Redis, tickets: int, days: int, today: date) -> None:
    """Store `tickets` ticket states and write their KPI changes through the worker's own finish (one per
    2,000 tickets, as a drain records a batch)."""
    rng = random.Random(7)
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)
    queue, pipe, ops = EventQueue(client), client.pipeline(transaction=False), []
    for number in range(tickets):
        created = start + timedelta(seconds=rng.uniform(0, days * 86400 - 4 * 86400))
        state = synthetic_state(rng, created)
        pipe.set(keys.state(TENANT, str(number)), json.dumps(state.to_dict()))
        ops += kpi_ops(TENANT, TicketState(status="new"), state)
        if number % 2000 == 1999 or number == tickets - 1:
            pipe.execute()
            queue.finish(TENANT, f"bench-fill-{number}", 0, Finish(ops=ops))
            ops = []


def commands_sent(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(entry["calls"]) for name, entry in stats.items() if name != "cmdstat_info")


def bytes_sent(client: redis.Redis) -> int:
    """What Redis wrote to its clients so far (the INFO replies themselves are a few KiB)."""
    return int(client.info("stats")["total_net_output_bytes"])


def scan_everything(client: redis.Redis, since: date, until: date) -> Counter[str]:
    """The baseline: read every stored state and recompute the window's counts from it."""
    counts: Counter[str] = Counter()
    names = list(client.scan_iter(match=keys.state(TENANT, "*"), count=1000))
    for offset in range(0, len(names), 500):
        for raw in client.mget(names[offset : offset + 500]):
            if raw is None:
                continue
            changes = kpi_changes(TicketState(status="new"), TicketState.from_dict(json.loads(raw)))
            for (day, name), n in changes.counts.items():
                if since.isoformat() <= day <= until.isoformat():
                    counts[name] += n
    return counts


def timed(label: str, client: redis.Redis, run: object) -> tuple[float, int, object]:
    before, read_before = commands_sent(client), bytes_sent(client)
    began = time.perf_counter()
    result = run() if callable(run) else None
    elapsed = time.perf_counter() - began
    sent, read = commands_sent(client) - before, bytes_sent(client) - read_before
    print(f"{label:<34} {elapsed * 1000:9.1f} ms  {sent:>8} Redis commands  {read / 2**10:>9.0f} KiB read")
    return elapsed, read, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    since = today - timedelta(days=29)
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        began = time.perf_counter()
        fill(client, args.tickets, args.days, today)
        memory = int(client.info("memory")["used_memory"])
        print(f"{args.tickets:,} ticket states over {args.days} days stored in {time.perf_counter() - began:.1f} s "
              f"(Redis uses {memory / 2**20:.0f} MiB)")  # fmt: skip
        client.config_resetstat()
        fast, fast_read, report = timed(
            "report, aggregates (30 days)", client, lambda: kpi_report(client, TENANT, since, today)
        )
        slow, slow_read, counts = timed(
            "baseline, scan every state", client, lambda: scan_everything(client, since, today)
        )
        timed("report by day (30 days)", client, lambda: kpi_report(client, TENANT, since, today, by_day=True))
        assert isinstance(report, dict) and isinstance(counts, Counter)
        agree = (report["tickets"], report["escalated"]) == (counts["tickets"], counts["escalated"])
        print(f"30-day window: {report['tickets']:,} tickets, {report['escalated']:,} escalated; "
              f"baseline agrees: {agree}")  # fmt: skip
        print(f"aggregates: {slow / fast:.0f}x faster, {slow_read / max(fast_read, 1):.0f}x fewer bytes read")
        if not agree:
            sys.exit("the aggregates and the scan disagree")


if __name__ == "__main__":
    main()
