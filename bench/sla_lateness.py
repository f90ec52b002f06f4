"""SLA timer lateness end to end: from an SLA deadline to the rule's evaluation, through the real path.

Each probe ticket arrives by signed webhook, gets a 6-second first-response SLA (warning at 50 %), and the
seconds later the worker evaluates `sla.warning` and `sla.breached` rules. Lateness = the worker's decision
time minus the deadline (both read from the ticket's journal). Meanwhile `--armed` other timers sit in the
same timer store, so the figure holds at scale. Baseline in the same run: RQ 2.12's own scheduler
(`enqueue_at` + `rq worker --with-scheduler`) running a job at the same kind of deadlines.

    .venv/bin/python bench/sla_lateness.py [--armed 100000] [--tickets 200] [--workers 2]
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
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, private_redis  # noqa: E402
from bench.deployment import ESCALATOR, PYTHON, Processes, blast, wait_http  # noqa: E402
from escalator.fakedesk.zendesk import FakeZendesk  # noqa: E402
from escalator.plugin import keys  # noqa: E402
from escalator.plugin.timers import TimerStore  # noqa: E402

TARGET_SECONDS = 6.0
POLICY = {
    "version": 1,
    "tiers": [
        {"id": "L1", "name": "Frontline", "group": "Tier 1"},
        {"id": "L2", "name": "Specialists", "group": "Tier 2"},
    ],
    "slas": [
        {"tier": "L1", "priority": "*", "first_response": f"{TARGET_SECONDS:g}s", "warn_at": [0.5]},
        {"tier": "L2", "priority": "*", "first_response": "1h"},
    ],
    "triggers": [
        {"id": "warn", "on": ["sla.warning"], "then": [{"action": "note", "template": "warn"}]},
        {"id": "breach", "on": ["sla.breached"], "then": [{"action": "escalate", "to": "next"}]},
    ],
    "templates": {"warn": "{{ alert.percent }}% of {{ alert.metric }} used"},
}


def payloads(count: int, first_id: int, subject: str, description: str) -> list[bytes]:
    """ticket.created bodies for tickets first_id.., in Zendesk's event-subscription shape."""
    desk = FakeZendesk(echo=False)
    requester = desk.add_user("Jane Doe", "jane@globex.example")
    bodies = []
    for index in range(count):
        ticket = {**desk.create_ticket(subject, description, requester), "id": first_id + index}
        payload = desk.event_payload("ticket.created", ticket, {"meta": {}}, actor=requester, at=datetime.now(UTC))
        bodies.append(json.dumps(payload).encode())
    return bodies


def lateness_ms(connection: redis.Redis, tickets: range) -> list[float]:
    """Decision time minus deadline for every timer-driven decision in the probes' journals."""
    late = []
    for ticket in tickets:
        for raw in connection.lrange(keys.journal("acme", str(ticket)), 0, -1):
            entry = json.loads(raw)
            for kind, occurred_at in entry.get("events", []):
                if kind == "timer.elapsed" and entry.get("decided_at"):
                    due = datetime.fromisoformat(occurred_at.replace("Z", "+00:00")).timestamp()
                    late.append((entry["decided_at"] - due) * 1000)
    return late


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    q = statistics.quantiles(values, n=100)
    early = sum(value < 0 for value in values)
    return f"{name:<44}{len(values):>7}{q[49]:>10.1f}{q[98]:>10.1f}{values[-1]:>10.1f}{values[0]:>10.1f}{early:>7}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--armed", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    procs = Processes()
    stack = ExitStack()
    workdir = Path(tempfile.mkdtemp(prefix="escalator-sla-bench-"))
    try:
        desk_port, app_port = free_port(), free_port()
        redis_url = stack.enter_context(private_redis())
        connection = redis.Redis.from_url(redis_url)
        desk_url = f"http://127.0.0.1:{desk_port}"
        procs.start(
            [
                PYTHON,
                "bench/fakedesk_server.py",
                "--port",
                str(desk_port),
                "--tickets",
                str(args.tickets),
                "--subject",
                "Export question",
                "--description",
                "How do I export a report?",
            ]
        )
        wait_http(f"{desk_url}/_bench/stats")
        rules = workdir / "rules.json"
        rules.write_text(json.dumps(POLICY))
        config = workdir / "escalator.json"
        config.write_text(
            json.dumps(
                {
                    "tenants": {
                        "acme": {
                            "vendor": "zendesk",
                            "base_url": desk_url,
                            "webhook_secret": "bench-secret",
                            "rules": str(rules),
                            "auth": {"email": "escalator@acme.example", "api_token": "t"},
                            "rate_limit": {"requests_per_minute": 10**7, "ticket_updates_per_minute": 10**7},
                            "reconcile": {"every": "off"},
                        }
                    }
                }
            )
        )
        env = {"REDIS_URL": redis_url, "ESCALATOR_CONFIG": str(config)}

        # Filler: timers of other tickets, due tomorrow, in the same store.
        store = TimerStore(connection)
        tomorrow = time.time() + 86_400
        for start in range(0, args.armed, 10_000):
            store.arm_many((f"other:{i}:sla:first_response", tomorrow + i) for i in range(start, start + 10_000))
        print(
            f"SLA lateness: {args.tickets} probe tickets, {store.count():,} timers armed, {args.workers} workers,"
            f" {os.cpu_count()} cores"
        )

        procs.start([ESCALATOR, "serve", "--port", str(app_port)], env)
        for _ in range(args.workers):
            procs.start([ESCALATOR, "worker"], env)
        wait_http(f"http://127.0.0.1:{app_port}/healthz")
        bodies = payloads(args.tickets, first_id=1, subject="Export question", description="How do I export a report?")
        # Spread the arrivals over ~3 s so deadlines do not all coincide.
        for chunk in range(0, len(bodies), max(1, len(bodies) // 10)):
            blast(f"http://127.0.0.1:{app_port}/webhooks/zendesk/acme", bodies[chunk : chunk + len(bodies) // 10], 2)
            time.sleep(0.3)
        deadline = time.monotonic() + 120
        probes = range(1, args.tickets + 1)
        while time.monotonic() < deadline and len(lateness_ms(connection, probes)) < 2 * args.tickets:
            time.sleep(0.5)
        ours = lateness_ms(connection, probes)

        # Baseline: RQ's scheduler with the same number of deadlines, spread the same way.
        rq_worker = procs.start(
            [str(Path(PYTHON).with_name("rq")), "worker", "--with-scheduler", "-u", redis_url, "bench-rq"],
            {**env, "PYTHONPATH": str(ROOT)},
        )
        time.sleep(2)
        from rq import Queue

        queue = Queue("bench-rq", connection=connection)
        start = time.time() + 3
        for index in range(2 * args.tickets):
            due = start + (index % 30) * 0.1 + index * 0.01
            queue.enqueue_at(datetime.fromtimestamp(due, UTC), "bench.rq_probe.record", due)
        wait_until = time.monotonic() + 60
        while time.monotonic() < wait_until and connection.llen("bench:rq:lateness") < 2 * args.tickets:
            time.sleep(0.5)
        baseline = [float(v) * 1000 for v in connection.lrange("bench:rq:lateness", 0, -1)]
        procs.stop(rq_worker)

        print(
            f"\n{'path (deadline -> ...)':<44}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'min ms':>10}"
            f"{'early':>7}"
        )
        print(summary("escalator: timer -> queue -> rule evaluated", ours))
        print(summary("baseline: RQ enqueue_at -> job runs", baseline))
        ratio = statistics.quantiles(baseline, n=100)[98] / max(0.001, statistics.quantiles(ours, n=100)[98])
        print(f"\np99 lateness, RQ / escalator: {ratio:.1f}x")
    finally:
        procs.stop_all()
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
