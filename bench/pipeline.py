"""Pipeline benchmark: webhooks/s accepted, events/s decided end to end, Redis requests per event, latency.

Every part is a real process on this machine: a private redis-server (AOF everysec), the receiver (gunicorn
running plugin.wsgi on every core, as compose does; `--receiver waitress` runs `escalator serve`),
`escalator worker` processes and a fake Zendesk (waitress), plus an `http.client` load generator with
keep-alive connections. Webhook bodies come from the fake desk itself, so write-backs carry the desk's own
`safe_update` stamps, as in production. Baselines in the same run: a bare Flask endpoint doing one Redis
LPUSH under the same server settings and load generator, for the receiver and for end to end.

Loads: "mixed" — 80 % tickets that match nothing (decided from the webhook's snapshot: no vendor call, no
write) and 20 % "Outage: cannot log in" (escalated: two PUTs, a reply and an internal note); "escalation" —
every event is an outage. Requests per event are counted with MONITOR (commands clients send; a Lua script
is one) and INFO commandstats (everything Redis ran, the scripts' own commands included).

    .venv/bin/python bench/pipeline.py [--events 3000] [--workers 2] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import private_redis
from bench.deployment import (
    ESCALATOR,
    HOW_TO,
    OUTAGE,
    CpuMeter,
    Desk,
    Processes,
    blast,
    client_requests,
    command_calls,
    config_file,
    decided,
    headers_for,
    redis_pid,
    show_cpu,
    start_baseline,
    start_receiver,
    wait_for,
)

TENANT = "acme"


def mixed(desk: Desk, count: int, share: float) -> tuple[list[bytes], int]:
    """`count` bodies, a `share` of them outages spread evenly through the stream (as traffic is); returns
    them and the number of escalations."""
    outages = round(count * share)
    escalating, quiet = desk.tickets(outages, OUTAGE), desk.tickets(count - outages, HOW_TO)
    positions = {index * count // outages for index in range(outages)} if outages else set()
    return [escalating.pop() if index in positions else quiet.pop() for index in range(count)], outages


class Run:
    """One fresh deployment (own Redis, desk, receiver, workers) for one measurement."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.procs = Processes()
        self.stack = ExitStack()

    def __enter__(self) -> Run:
        self.redis_url = self.stack.enter_context(private_redis())
        self.redis = redis.Redis.from_url(self.redis_url)
        self.desk = Desk(self.procs)
        config = config_file(self.workdir, self.desk.url, [TENANT])
        self.env = {"REDIS_URL": self.redis_url, "ESCALATOR_CONFIG": str(config)}
        self.receiver, base = start_receiver(
            self.procs, self.env, self.args.receiver, self.args.receiver_processes, self.args.threads
        )
        self.url = f"{base}/webhooks/zendesk/{TENANT}"
        self.workers: list[Any] = []
        return self

    def meter(self) -> CpuMeter:
        return CpuMeter(
            {
                "redis-server": [redis_pid(self.redis_url)],
                "receiver": [self.receiver.pid],
                "workers": [worker.pid for worker in self.workers],
                "fake Zendesk": [self.desk.process.pid],
            }
        )

    def start_workers(self) -> None:
        self.workers = [self.procs.start([ESCALATOR, "worker"], self.env) for _ in range(self.args.workers)]

    def __exit__(self, *exc: object) -> None:
        self.procs.stop_all()
        self.redis.close()
        self.stack.close()


def receiver_rates(args: argparse.Namespace, workdir: Path) -> dict[str, tuple[float, dict[int, int], float]]:
    """name -> (webhooks/s, statuses, CPU ms per webhook of the server), each the median of `--rounds` rounds
    that alternate between the servers (a single blast of a few seconds on a shared 2-core machine swings by
    a third): the bare endpoint under the receiver's own server settings, the bare endpoint as one waitress
    process (how it was first measured), and Escalator's receiver (no workers running)."""
    ours = "Escalator receiver (verify, parse, dedupe + queue)"
    samples: dict[str, list[tuple[float, dict[int, int], float]]] = {}
    with Run(args, workdir) as run:
        warm, _ = mixed(run.desk, 300, args.mix)
        processes = args.receiver_processes if args.receiver == "gunicorn" else 1
        setups = [
            (f"baseline: bare Flask + LPUSH, {args.receiver} x {processes}", args.receiver, processes),
            ("baseline: bare Flask + LPUSH, waitress x 1 (first measured so)", "waitress", 1),
        ]
        blast(run.url, warm, args.clients)
        for _ in range(args.rounds):
            bodies, _ = mixed(run.desk, args.events, args.mix)  # fresh deliveries: none is a duplicate
            for name, server, count in setups:
                process, base_url = start_baseline(run.procs, run.redis_url, server, count, args.threads)
                url = f"{base_url}/webhooks/zendesk/{TENANT}"
                blast(url, warm, args.clients)
                samples.setdefault(name, []).append(_measure(url, bodies, args.clients, process.pid))
                run.procs.stop(process)
            samples.setdefault(ours, []).append(_measure(run.url, bodies, args.clients, run.receiver.pid))
    return {name: sorted(runs, key=lambda sample: sample[0])[len(runs) // 2] for name, runs in samples.items()}


def _measure(url: str, bodies: list[bytes], clients: int, pid: int) -> tuple[float, dict[int, int], float]:
    meter = CpuMeter({"server": [pid]})
    meter.start()
    seconds, statuses = blast(url, bodies, clients)
    return len(bodies) / seconds, statuses, 1000 * meter.stop()["server"] / len(bodies)


def end_to_end(
    args: argparse.Namespace, workdir: Path, share: float, events: int, profile: Callable[[Run], None] | None = None
) -> dict[str, Any]:
    """Workers running, webhooks arriving: from the first POST until every event is decided and every write
    has landed. Then the same number again, queued first and drained by the workers alone."""
    with Run(args, workdir) as run:
        live, outages = mixed(run.desk, events, share)
        backlog, _ = mixed(run.desk, events, share)
        run.start_workers()
        time.sleep(2.0)  # workers up (imports, first connections)
        meter = run.meter()
        meter.start()
        started = time.perf_counter()
        if profile is not None:
            profile(run)
        _, statuses = blast(run.url, live, args.clients)
        done = wait_for(
            lambda: decided(run.redis, TENANT) >= events and run.desk.writes() >= 2 * outages, 600, "decisions"
        )
        cpu = meter.stop()
        sustained = events / (done - started)
        for worker in run.workers:
            run.procs.stop(worker)
        blast(run.url, backlog, args.clients)
        run.start_workers()
        started = time.perf_counter()
        done = wait_for(
            lambda: decided(run.redis, TENANT) >= 2 * events and run.desk.writes() >= 4 * outages, 600, "backlog"
        )
        return {
            "sustained": sustained,
            "drain": events / (done - started),
            "statuses": statuses,
            "cpu": cpu,
            "seconds": events / sustained,
        }


def requests_per_event(args: argparse.Namespace, workdir: Path, share: float, events: int) -> dict[str, Any]:
    """Commands clients send per event (MONITOR) and commands Redis runs per event (commandstats), with
    workers and receiver running, over `events` events of the load."""
    with Run(args, workdir) as run:
        bodies, outages = mixed(run.desk, events, share)
        run.start_workers()
        time.sleep(3.0)  # past the workers' start-up commands (migration, subscriptions)
        polls = Counter[str]()

        def done() -> bool:
            polls["hget"] += 1
            return decided(run.redis, TENANT) >= events and run.desk.writes() >= 2 * outages

        own = str(run.redis.client_info()["addr"])  # the bench's own connection: not counted
        before = command_calls([run.redis])
        with client_requests(run.redis_url, ignore=own) as sent:
            blast(run.url, bodies, args.clients)
            wait_for(done, 300, "all decisions")
        ran = command_calls([run.redis]) - before - polls
        for name in ("info", "monitor", "client|info"):
            ran.pop(name, None)
        return {"sent": sent, "ran": ran, "events": events}


def latency(args: argparse.Namespace, workdir: Path) -> list[float]:
    """One outage webhook at a time: from the POST to the last PUT arriving at the desk (ms)."""
    with Run(args, workdir) as run:
        bodies = run.desk.tickets(args.latency_samples, OUTAGE)
        run.start_workers()
        time.sleep(2.0)
        session = requests.Session()
        posted: dict[str, float] = {}
        for body in bodies:
            ticket = json.loads(body)["subject"].rpartition(":")[2]
            posted[ticket] = time.time()
            session.post(run.url, data=body, headers=headers_for(body), timeout=10)
            time.sleep(0.05)
        wait_for(lambda: run.desk.writes() >= 2 * len(bodies), 120, "latency writes")
        last = run.desk.stats()["last_write"]
        return sorted((last[ticket] - at) * 1000 for ticket, at in posted.items())


def per_event(counts: Counter[str], events: int, top: int = 8) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{name} {n / events:.2f}" for name, n in counts.most_common(top))
    return f"{total / events:.2f}   ({parts})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000, help="events per load (mixed)")
    parser.add_argument("--escalations", type=int, default=1500, help="events of the all-escalation load")
    parser.add_argument("--mix", type=float, default=0.2, help="share of escalations in the mixed load")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--receiver", choices=("gunicorn", "waitress"), default="gunicorn")
    parser.add_argument("--receiver-processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=4, help="threads per receiver process")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--count-events", type=int, default=1000, help="events of the request-counting runs")
    parser.add_argument("--parts", default="receiver,e2e,requests,latency", help="which measurements to run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the receiver measurement")
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is needed (apt-get install redis-server)")
    workdir = Path(tempfile.mkdtemp(prefix="escalator-bench-"))
    server = f"{args.receiver} x {args.receiver_processes} processes x {args.threads} threads"
    print(
        f"pipeline benchmark: {args.workers} workers, receiver {server}, {args.clients} client connections,"
        f" {os.cpu_count()} cores; mixed load = {args.mix:.0%} escalations",
        flush=True,
    )
    parts = set(args.parts.split(","))
    try:
        rates = receiver_rates(args, workdir) if "receiver" in parts else {}
        mix = end_to_end(args, workdir, args.mix, args.events) if "e2e" in parts else None
        escalation = end_to_end(args, workdir, 1.0, args.escalations) if "e2e" in parts else None
        counts = []
        if "requests" in parts:
            counts.append(("match nothing", requests_per_event(args, workdir, 0.0, args.count_events)))
            counts.append(("escalation (2 PUTs)", requests_per_event(args, workdir, 1.0, args.count_events // 4)))
        latencies = latency(args, workdir) if "latency" in parts else []
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    base = next(iter(rates.values()))[0] if rates else None
    if rates:
        title = f"receiver (no workers running; median of {args.rounds} rounds)"
        print(f"{title:<66}{'webhooks/s':>10}{'CPU/webhook':>13}")
        for name, (rate, statuses, cpu) in rates.items():
            print(f"{name:<66}{rate:>10,.0f}{cpu:>10.2f} ms   statuses {statuses}")
        ours = rates["Escalator receiver (verify, parse, dedupe + queue)"][0]
        for name, (rate, _, _) in list(rates.items())[:2]:
            print(f"  Escalator's ratio to {name.removeprefix('baseline: ')}: {ours / rate:.2f}")
        print()
    for name, figures in (("mixed", mix), ("all-escalation", escalation)):
        if figures is None:
            continue
        ratio = f"   ({figures['sustained'] / base:.2f}x baseline)" if base else ""
        print(f"{f'{name}: sustained end to end (events/s decided)':<58}{figures['sustained']:>12,.0f}", end="")
        print(f"{ratio}   statuses {figures['statuses']}")
        print(f"{f'{name}: drain of a queued backlog (events/s)':<58}{figures['drain']:>12,.0f}")
        show_cpu(f"{name}, sustained", figures["cpu"], figures["seconds"])
    print()
    for name, counted in counts:
        events = counted["events"]
        print(f"Redis requests per event, {name} ({events} events): {per_event(counted['sent'], events)}")
        print(f"Redis commands run per event, {name}, scripts' own included: {per_event(counted['ran'], events)}")
    if latencies:
        p = statistics.quantiles(latencies, n=100)
        figures = f"{p[49]:.1f} / {p[98]:.1f} / {latencies[-1]:.1f}"
        print(f"\n{'latency webhook -> last write, p50 / p99 / max (ms)':<58}{figures:>20}")


if __name__ == "__main__":
    main()
