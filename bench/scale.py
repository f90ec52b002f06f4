"""Scale-out: events/s decided with 1, 2 and 4 `escalator worker` processes, on one Redis and on a 3-master
Redis Cluster (where workers serve the tenants' drain hand-over lists instead of RQ).

Each run is a fresh deployment of real processes: Redis (a private redis-server, or three cluster masters),
a fake Zendesk, the receiver (gunicorn on every core) and the workers. The load is the pipeline benchmark's
mixed load (80 % tickets that match nothing, 20 % escalations with two writes) spread over several tenants
— one tenant's keys live in one hash slot, so a cluster spreads tenants, not tickets. The events are queued
first and the workers then drain them: the figure is the workers' throughput.

On this 2-core machine more than two workers cannot add CPU: the table shows what the queue and Redis cost
as workers are added, not a bigger machine's gain.

    .venv/bin/python bench/scale.py [--events 3000] [--tenants 6] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import private_cluster, private_redis
from bench.deployment import (
    ESCALATOR,
    HOW_TO,
    OUTAGE,
    Desk,
    Processes,
    blast,
    config_file,
    decided,
    start_receiver,
    wait_for,
)
from escalator.plugin.connection import connect

TENANTS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell"]


def run(args: argparse.Namespace, redis: AbstractContextManager[str], workers: int, workdir: Path) -> float:
    """events/s for `workers` workers draining a queued mixed load of `args.events` events."""
    procs, stack = Processes(), ExitStack()
    try:
        url = stack.enter_context(redis)
        client = connect(url, "commands")
        desk = Desk(procs)
        tenants = TENANTS[: args.tenants]
        config = config_file(workdir, desk.url, tenants)
        env = {"REDIS_URL": url, "ESCALATOR_CONFIG": str(config)}
        _, base = start_receiver(procs, env, "gunicorn", os.cpu_count() or 2, 4)
        per_tenant = args.events // len(tenants)
        outages = round(per_tenant * args.mix)
        for tenant in tenants:
            bodies = desk.tickets(outages, OUTAGE) + desk.tickets(per_tenant - outages, HOW_TO)
            bodies = bodies[::2] + bodies[1::2]  # interleaved
            blast(f"{base}/webhooks/zendesk/{tenant}", bodies, 8)
        total = per_tenant * len(tenants)
        started = time.perf_counter()
        for _ in range(workers):
            procs.start([ESCALATOR, "worker"], env)
        done = wait_for(lambda: sum(decided(client, tenant) for tenant in tenants) >= total, 900, "decisions", 0.05)
        wait_for(lambda: desk.writes() >= 2 * outages * len(tenants), 120, "write-backs")
        return total / (done - started)
    finally:
        procs.stop_all()
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--tenants", type=int, default=6)
    parser.add_argument("--mix", type=float, default=0.2, help="share of escalations")
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        raise SystemExit("redis-server and redis-cli are needed (apt-get install redis-server)")
    counts = [int(n) for n in args.workers.split(",")]
    print(
        f"scale-out: {args.events:,} queued events ({args.mix:.0%} escalations) over {args.tenants} tenants,"
        f" {os.cpu_count()} cores",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="escalator-scale-"))
    rows: dict[str, list[float]] = {}
    try:
        for name, topology in (
            ("one Redis (RQ drains)", private_redis),
            ("3-master cluster (hand-over)", private_cluster),
        ):
            rows[name] = [run(args, topology(), workers, workdir) for workers in counts]
            print(f"  {name}: done", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{'events/s decided':<32}" + "".join(f"{f'{n} worker' + ('s' if n > 1 else ''):>12}" for n in counts))
    for name, figures in rows.items():
        print(f"{name:<32}" + "".join(f"{figure:>12,.0f}" for figure in figures))


if __name__ == "__main__":
    main()
