"""Deadline burst: N SLA deadlines due in the same second, and how long until every one is evaluated.

A big help desk's Monday morning: N tickets opened at the same instant (by signed webhooks through the real
receiver, decided by the real workers) run a first-response clock that breaches at the same second. From that
second on, `--workers` `escalator worker` processes must hand every deadline over (the timer store), read
each ticket back from the help desk (one call per 100 tickets where the connector can read many at once),
evaluate the breach rules and record the outcome (clock, KPI aggregates, timers) — for every ticket. The
breach rule fires only for enterprise tickets, none of these: the figure is evaluation, not write-back (a
help desk's budget would spread N writes over minutes whatever we do).

Baseline in the same run: RQ 2.12's own scheduler with N no-op jobs due at one instant, run by the same
number of `rq worker` processes (SimpleWorker): the plain-RQ way to act on a deadline.

    .venv/bin/python bench/burst.py [--deadlines 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import private_redis
from bench.deployment import (
    ESCALATOR,
    PYTHON,
    ROOT,
    CpuMeter,
    Desk,
    Processes,
    blast,
    config_file,
    decided,
    redis_pid,
    show_cpu,
    start_receiver,
    wait_for,
)

TENANT = "acme"
POLICY = {
    "version": 1,
    "tiers": [
        {"id": "L1", "name": "Frontline Support", "group": "Tier 1"},
        {"id": "L2", "name": "Technical Specialists", "group": "Tier 2"},
    ],
    "segments": [
        {"id": "enterprise", "if": {"field": "organization.tags", "operator": "includes", "value": "enterprise"}}
    ],
    "slas": [
        {"tier": "L1", "priority": "*", "first_response": "{target}"},
        {"tier": "L2", "priority": "*", "first_response": "1h"},
    ],
    "triggers": [
        {"id": "enterprise-breach", "on": ["sla.breached"],
         "if": {"field": "segments", "operator": "includes", "value": "enterprise"},
         "then": [{"action": "escalate", "to": "next"}, {"action": "set_priority", "value": "+1"}]}
    ],
}  # fmt: skip


def ours(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    procs, stack = Processes(), ExitStack()
    try:
        redis_url = stack.enter_context(private_redis())
        client = redis.Redis.from_url(redis_url)
        desk = Desk(procs)
        rules = workdir / "burst-policy.json"
        rules.write_text(json.dumps(POLICY).replace("{target}", f"{args.target}s"))
        config = config_file(workdir, desk.url, [TENANT], rules=rules)
        env = {"REDIS_URL": redis_url, "ESCALATOR_CONFIG": str(config)}
        receiver, base = start_receiver(procs, env, "gunicorn", os.cpu_count() or 2, 4)
        workers = [procs.start([ESCALATOR, "worker"], env) for _ in range(args.workers)]
        opened = datetime.now(UTC).replace(microsecond=0)
        bodies = desk.tickets(args.deadlines, ("Printer question", "How do I add a printer?"), at=opened)
        started = time.perf_counter()
        blast(f"{base}/webhooks/zendesk/{TENANT}", bodies, 8)
        wait_for(lambda: decided(client, TENANT) >= args.deadlines, 300, "the tickets to be opened")
        setup = time.perf_counter() - started
        due = opened.timestamp() + args.target
        armed = client.zcount(f"esc:{{{TENANT}}}:timers:pending", due, due)
        if time.time() > due:
            raise SystemExit(f"setup took {setup:.0f}s, past the deadline: raise --target")
        print(f"  {args.deadlines:,} tickets opened in {setup:.1f}s; {armed:,} deadlines armed at the same instant",
              flush=True)  # fmt: skip
        meter = CpuMeter(
            {
                "redis-server": [redis_pid(redis_url)],
                "workers": [worker.pid for worker in workers],
                "fake Zendesk": [desk.process.pid],
                "receiver": [receiver.pid],
            }
        )
        time.sleep(max(0.0, due - time.time() - 1.0))
        meter.start()

        def breached() -> int:
            return int(client.hget(f"esc:{{{TENANT}}}:metrics", "sla:first_response:breached") or 0)

        wait_for(lambda: breached() >= args.deadlines, 600, "every deadline", poll=0.01)
        done = time.time()
        return {"seconds": done - due, "breached": breached(), "cpu": meter.stop()}  # type: ignore[dict-item]
    finally:
        procs.stop_all()
        stack.close()


def rq_baseline(args: argparse.Namespace) -> float:
    """N no-op RQ jobs scheduled for one instant, `--workers` `rq worker --with-scheduler` SimpleWorkers:
    seconds from the instant until every job ran."""
    from rq import Queue

    procs, stack = Processes(), ExitStack()
    try:
        redis_url = stack.enter_context(private_redis())
        client = redis.Redis.from_url(redis_url)
        queue = Queue("bench-burst", connection=client)
        due = time.time() + max(20.0, args.deadlines / 1000)
        when = datetime.fromtimestamp(due, UTC)
        for start in range(0, args.deadlines, 1000):
            with client.pipeline() as pipe:
                for _ in range(start, min(args.deadlines, start + 1000)):
                    queue.enqueue_at(when, "bench.rq_probe.record", due, pipeline=pipe)
                pipe.execute()
        rq = str(Path(PYTHON).with_name("rq"))
        for _ in range(args.workers):
            procs.start(
                [rq, "worker", "--with-scheduler", "-w", "rq.worker.SimpleWorker", "-u", redis_url, "bench-burst"],
                {"PYTHONPATH": str(ROOT), "REDIS_URL": redis_url},
            )
        wait_for(lambda: client.llen("bench:rq:lateness") >= args.deadlines, 300, "the RQ jobs", poll=0.05)
        return time.time() - due
    finally:
        procs.stop_all()
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deadlines", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target", type=int, default=75, help="the SLA (seconds): setup must end before it")
    parser.add_argument("--skip-rq", action="store_true")
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is needed (apt-get install redis-server)")
    print(f"deadline burst: {args.deadlines:,} SLA deadlines due in the same second, {args.workers} workers,"
          f" {os.cpu_count()} cores", flush=True)  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="escalator-burst-"))
    try:
        figures = ours(args, workdir)
        print(f"  Escalator: every deadline evaluated {figures['seconds']:.2f}s after it was due", flush=True)
        baseline = None if args.skip_rq else rq_baseline(args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{'deadline -> ... (every one of them)':<62}{'seconds':>10}")
    print(f"{'Escalator: read back, breach rules evaluated, outcome recorded':<62}{figures['seconds']:>10.2f}"
          f"   ({figures['breached']:,} breaches recorded)")  # fmt: skip
    if baseline is not None:
        print(f"{'baseline: RQ scheduler + RQ workers, a no-op job each':<62}{baseline:>10.2f}")
    show_cpu("after the deadline", figures["cpu"], figures["seconds"])  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
