"""Benchmark the timer engine against RQ 2.12's scheduler on a private redis-server.

    .venv/bin/python bench/timers.py [--sizes 100000,1000000] [--probes 1000] [--rq-max 100000]

For each size N: arm N far-future timers (spread over a day), measure Redis memory per timer, then run
a TimerLoop and fire a probe set due over the next few seconds (lateness = deadline -> on_fire call)
and a burst of timers all due at the same instant.  The RQ baseline schedules the same jobs with
`Queue.enqueue_at` and runs its real scheduler process; a job counts as fired when the scheduler
pushes it onto the queue (a lower bound on RQ's deadline -> job start: no worker pick-up included).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import private_redis
from escalator.plugin.timers import FiredTimer, TimerLoop, TimerStore

DAY = 86_400.0
TENANTS = [f"tenant{i:03d}" for i in range(200)]
KINDS = ["sla:first_response", "sla:next_reply", "sla:resolution", "idle:customer", "idle:agent"]


@dataclass
class Result:
    engine: str
    armed: int
    mem_per_timer: float = float("nan")
    arm_rate: float = float("nan")
    probe: list[float] = field(default_factory=list)  # lateness in seconds, one per fire
    probe_expected: int = 0
    duplicates: int = 0
    burst_n: int = 0
    burst_seconds: float = float("nan")
    note: str = ""


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def settle_memory(client: redis.Redis) -> int:
    time.sleep(0.3)  # let AOF buffers drain into the file so they do not count as data
    return used_memory(client)


def timer_keys(n: int, rng: random.Random) -> Iterator[str]:
    for i in range(n):
        yield f"{rng.choice(TENANTS)}:{10_000_000 + i}:{rng.choice(KINDS)}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


# --- escalator ----------------------------------------------------------------------------------------


def bench_escalator(url: str, n: int, probes: int, burst: int) -> Result:
    client = redis.Redis.from_url(url)
    client.flushall()
    result = Result("escalator", n, probe_expected=probes, burst_n=burst)
    store = TimerStore(client)
    rng = random.Random(n)
    now = time.time()

    before = settle_memory(client)
    started = time.perf_counter()
    store.arm_many((key, now + 3600 + rng.random() * DAY) for key in timer_keys(n, rng))
    result.arm_rate = n / (time.perf_counter() - started)
    result.mem_per_timer = (settle_memory(client) - before) / n
    assert store.count() == n

    lock = threading.Lock()
    fired: list[tuple[FiredTimer, float]] = []
    # The main thread blocks on events rather than polling, so it does not compete with the loop
    # thread for the GIL (polling added ~10 ms to the p99 in early runs of this bench).
    probes_done, burst_done = threading.Event(), threading.Event()
    seen = {"probe:": 0, "burst:": 0}

    def on_fire(timers: list[FiredTimer]) -> None:
        at = time.time()
        with lock:
            fired.extend((t, at) for t in timers)
            for t in timers:
                prefix = t.key[:6]
                if prefix in seen:
                    seen[prefix] += 1
            if seen["probe:"] >= probes:
                probes_done.set()
            if seen["burst:"] >= burst:
                burst_done.set()

    loop = TimerLoop(TimerStore(redis.Redis.from_url(url)), on_fire)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.2)  # the loop is asleep on the far deadlines
        # Probes: armed one by one (the production path), due spread over 1..4 s from now.
        base = time.time() + 1.0
        for i in range(probes):
            store.arm(f"probe:{i}:sla:first_response", base + 3.0 * i / probes)
        probes_done.wait(timeout=20)
        # Burst: many timers due at the same instant (e.g. a business-hours boundary).
        due = time.time() + 1.0
        store.arm_many((f"burst:{i}:sla:resolution", due) for i in range(burst))
        burst_done.wait(timeout=30)
        with lock:
            burst_fires = [at for t, at in fired if t.key.startswith("burst:")]
        if len(burst_fires) == burst:
            result.burst_seconds = max(burst_fires) - due
        time.sleep(0.3)  # a double fire would show up here
    finally:
        stop.set()
        thread.join(timeout=10)
    with lock:
        result.probe = [at - t.due for t, at in fired if t.key.startswith("probe:")]
        keys = [t.key for t, _ in fired]
    result.duplicates = len(keys) - len(set(keys))
    client.close()
    return result


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)


# --- RQ 2.12 baseline -------------------------------------------------------------------------------


def bench_rq(url: str, n: int, probes: int, burst: int) -> Result:
    from rq import Queue
    from rq.scheduler import RQScheduler

    client = redis.Redis.from_url(url)
    client.flushall()
    result = Result("rq 2.12 scheduler", n, probe_expected=probes, burst_n=burst)
    queue = Queue("sla", connection=client)
    rng = random.Random(n)
    now = time.time()

    def schedule(job_id: str | None, due: float, pipe: redis.client.Pipeline, key: str) -> None:
        tenant, ticket, kind = key.split(":", 2)
        queue.enqueue_at(
            datetime.fromtimestamp(due, UTC), "escalator.fire", tenant, ticket, kind, job_id=job_id, pipeline=pipe
        )

    before = settle_memory(client)
    started = time.perf_counter()
    with client.pipeline(transaction=False) as pipe:
        for i, key in enumerate(timer_keys(n, rng)):
            schedule(None, now + 3600 + rng.random() * DAY, pipe, key)
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()
    result.arm_rate = n / (time.perf_counter() - started)
    result.mem_per_timer = (settle_memory(client) - before) / n

    # "Fired" = the scheduler pushed the job id onto rq:queue:sla; watch that list.
    released: dict[str, float] = {}
    stop = threading.Event()

    def consume() -> None:
        watcher = redis.Redis.from_url(url)
        while not stop.is_set():
            popped = watcher.blpop([queue.key], timeout=0.2)
            if popped is not None:
                job_id = popped[1]
                released[job_id.decode() if isinstance(job_id, bytes) else job_id] = time.time()
        watcher.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    scheduler = RQScheduler([queue], connection=client)
    scheduler.acquire_locks()  # type: ignore[no-untyped-call]
    process = scheduler.start()  # type: ignore[no-untyped-call]  # forks the real scheduler loop (1 s poll), as a worker would
    try:
        time.sleep(0.2)
        base = time.time() + 1.0
        dues: dict[str, float] = {}
        with client.pipeline(transaction=False) as pipe:
            for i in range(probes):
                dues[f"probe-{i}"] = base + 3.0 * i / probes
                schedule(f"probe-{i}", dues[f"probe-{i}"], pipe, f"probe:{i}:sla:first_response")
            pipe.execute()
        _wait_for(lambda: sum(1 for k in released if k.startswith("probe-")) >= probes, timeout=20)
        # RQ 2.12's ScheduledJobRegistry.schedule() ignores the pipeline (its ZADD runs at once), so a
        # job whose due passes before pipe.execute() is dropped by the scheduler (no job hash yet).
        # Put the burst far enough out that all of it is written first.
        due = time.time() + 1.0 + 2.0 * burst / result.arm_rate
        with client.pipeline(transaction=False) as pipe:
            for i in range(burst):
                schedule(f"burst-{i}", due, pipe, f"burst:{i}:sla:resolution")
            pipe.execute()
        _wait_for(lambda: sum(1 for k in released if k.startswith("burst-")) >= burst, timeout=30)
        burst_fires = [at for k, at in released.items() if k.startswith("burst-")]
        if len(burst_fires) == burst:
            result.burst_seconds = max(burst_fires) - due
    finally:
        process.terminate()
        process.join(timeout=10)
        stop.set()
        consumer.join(timeout=5)
    result.probe = [released[k] - d for k, d in dues.items() if k in released]
    client.close()
    return result


# --- report -------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_table(results: list[Result]) -> None:
    header = (
        f"{'engine':<18} {'armed':>10} {'B/timer':>8} {'arm/s':>9} {'fired':>10} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'min ms':>7} {'early':>5} {'dup':>4} {'burst':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        fired = f"{len(r.probe)}/{r.probe_expected}"
        if r.probe:
            lat = (
                f"{ms(statistics.median(r.probe)):>7} {ms(percentile(r.probe, 0.99)):>7} "
                f"{ms(max(r.probe)):>7} {ms(min(r.probe)):>7} {sum(1 for x in r.probe if x < 0):>5}"
            )
        else:
            lat = f"{'-':>7} {'-':>7} {'-':>7} {'-':>7} {'-':>5}"
        burst = f"{r.burst_n} in {r.burst_seconds:.2f}s"
        print(
            f"{r.engine:<18} {r.armed:>10,} {r.mem_per_timer:>8.0f} {r.arm_rate:>9,.0f} {fired:>10} "
            f"{lat} {r.duplicates:>4} {burst:>13}"
        )
    print(
        "\nlateness = deadline -> on_fire call (escalator) / -> job pushed on the queue (RQ, no worker)."
        "\nmin < 0 means early; 'early' counts early fires.  burst = all timers due at one instant:"
        " due -> last fire."
    )


def print_ratios(results: list[Result]) -> None:
    rq = [r for r in results if r.engine.startswith("rq")]
    ours = [r for r in results if r.engine == "escalator"]
    if not rq or not ours:
        return
    base = rq[0]
    print(f"\nratios vs RQ at {base.armed:,} scheduled jobs:")
    for r in ours:
        parts = [f"memory/timer {base.mem_per_timer / r.mem_per_timer:.1f}x smaller"]
        if r.probe and base.probe:
            parts.append(f"p99 lateness {percentile(base.probe, 0.99) / percentile(r.probe, 0.99):.0f}x lower")
        if r.burst_seconds == r.burst_seconds and base.burst_seconds == base.burst_seconds:
            parts.append(f"burst {base.burst_seconds / r.burst_seconds:.0f}x faster")
        parts.append(f"arming {r.arm_rate / base.arm_rate:.0f}x faster")
        print(f"  escalator @ {r.armed:>9,}: " + ", ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated counts of armed timers")
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument(
        "--rq-max", type=int, default=100_000, help="largest N for RQ (1M RQ jobs takes minutes and ~1.5 GB)"
    )
    parser.add_argument("--skip-rq", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    results: list[Result] = []
    with private_redis() as url:
        info = redis.Redis.from_url(url).info("server")
        print(f"redis-server {info['redis_version']} (private, AOF everysec), probes={args.probes}\n")
        for n in sizes:
            print(f"escalator: arming {n:,} timers ...", flush=True)
            results.append(bench_escalator(url, n, args.probes, args.burst))
        if not args.skip_rq:
            rq_n = min(max(sizes), args.rq_max)
            print(f"rq: scheduling {rq_n:,} jobs ...", flush=True)
            r = bench_rq(url, rq_n, args.probes, args.burst)
            if rq_n < max(sizes):
                r.note = f"RQ measured at {rq_n:,} (not {max(sizes):,}): job creation runs at ~{r.arm_rate:,.0f}/s"
            results.append(r)
    print()
    print_table(results)
    print_ratios(results)
    for r in results:
        if r.note:
            print(f"note: {r.note}")
    failures = [r for r in results if r.engine == "escalator" and (min(r.probe, default=0) < 0 or r.duplicates)]
    if failures:
        sys.exit("FAIL: escalator fired early or twice")


if __name__ == "__main__":
    main()
