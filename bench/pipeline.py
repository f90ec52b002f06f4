"""Pipeline benchmark: webhooks/s accepted, end-to-end events/s, and webhook -> write-back latency.

Everything runs as it does in production, each part in its own process on this machine: a private
redis-server (AOF everysec), `escalator serve` (waitress), `escalator worker` processes, and a fake Zendesk
(waitress). Baseline in the same run: a bare Flask endpoint doing one Redis LPUSH under the same server and
load generator. Every event is an "Outage: cannot log in" ticket, the most expensive path of the seed
policy (read the ticket back, then two PUTs: group + priority + reply, then the internal note).

    .venv/bin/python bench/pipeline.py [--events 2000] [--workers 2] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, private_redis  # noqa: E402
from escalator.connectors.zendesk.webhook import INVOCATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign  # noqa: E402
from escalator.fakedesk.zendesk import FakeZendesk  # noqa: E402

SECRET = "bench-secret"
PYTHON = sys.executable
ESCALATOR = str(Path(PYTHON).with_name("escalator"))


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


class Processes:
    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            args, env={**os.environ, **(env or {})}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process)


def payloads(
    count: int,
    first_id: int = 1,
    subject: str = "Outage: cannot log in",
    description: str = "Nobody on our team can sign in.",
) -> list[bytes]:
    """Signed-ready ticket.created bodies for tickets first_id.., in Zendesk's event-subscription shape."""
    desk = FakeZendesk(echo=False)
    requester = desk.add_user("Jane Doe", "jane@globex.example")
    bodies = []
    for index in range(count):
        ticket = desk.create_ticket(subject, description, requester)
        ticket = {**ticket, "id": first_id + index}
        payload = desk.event_payload("ticket.created", ticket, {"meta": {}}, actor=requester, at=datetime.now(UTC))
        bodies.append(json.dumps(payload).encode())
    return bodies


def headers_for(body: bytes) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(SECRET, body, stamp),
        INVOCATION_HEADER: f"bench-{time.monotonic_ns()}",
    }


def blast(url: str, bodies: list[bytes], clients: int) -> tuple[float, dict[int, int]]:
    """Post every body with `clients` keep-alive connections; returns (seconds, status counts)."""
    signed = [(body, headers_for(body)) for body in bodies]  # signing is the help desk's cost, not ours
    chunks = [signed[i::clients] for i in range(clients)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    parts = urlsplit(url)

    def run(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        # http.client with keep-alive: the load generator must cost far less than the server it measures.
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        local: dict[int, int] = {}
        for body, headers in chunk:
            connection.request("POST", parts.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            local[response.status] = local.get(response.status, 0) + 1
        connection.close()
        with lock:
            for code, n in local.items():
                statuses[code] = statuses.get(code, 0) + n

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, chunks))
    return time.perf_counter() - started, statuses


def stats(desk_url: str) -> dict[str, Any]:
    answer = requests.get(f"{desk_url}/_bench/stats", headers={"Authorization": "Bearer bench"}, timeout=10)
    return dict(answer.json())


def wait_writes(desk_url: str, expected: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stats(desk_url)["writes"] >= expected:
            return time.perf_counter()
        time.sleep(0.02)
    raise RuntimeError(f"only {stats(desk_url)['writes']} of {expected} writes arrived")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--latency-samples", type=int, default=100)
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is needed (apt-get install redis-server)")

    procs = Processes()
    stack = ExitStack()
    workdir = Path(tempfile.mkdtemp(prefix="escalator-bench-"))
    try:
        desk_port, app_port, base_port = free_port(), free_port(), free_port()
        redis_url = stack.enter_context(private_redis())
        total_tickets = 2 * args.events + args.latency_samples + 10
        desk_url = f"http://127.0.0.1:{desk_port}"
        procs.start([PYTHON, "bench/fakedesk_server.py", "--port", str(desk_port), "--tickets", str(total_tickets)])
        wait_http(f"{desk_url}/_bench/stats")
        config = workdir / "escalator.json"
        config.write_text(
            json.dumps(
                {
                    "tenants": {
                        "acme": {
                            "vendor": "zendesk",
                            "base_url": desk_url,
                            "webhook_secret": SECRET,
                            "auth": {"email": "escalator@acme.example", "api_token": "t"},
                            "rules": str(ROOT / "rules" / "seed-policy.json"),
                            # Measure our pipeline, not the vendor's plan: lift the outbound budget.
                            "rate_limit": {"requests_per_minute": 10**7, "ticket_updates_per_minute": 10**7},
                            # The webhook path alone: no catch-up pass importing the fake desk's tickets.
                            "reconcile": {"every": "off"},
                        }
                    }
                }
            )
        )
        env = {"REDIS_URL": redis_url, "ESCALATOR_CONFIG": str(config)}

        print(
            f"pipeline benchmark: {args.events} events, {args.workers} workers, {args.clients} client connections,"
            f" {os.cpu_count()} cores"
        )

        # 1. Baseline: bare Flask + one LPUSH.
        baseline = procs.start([PYTHON, "bench/baseline_server.py", "--port", str(base_port), "--redis", redis_url])
        wait_http(f"http://127.0.0.1:{base_port}/")
        warm = payloads(200, first_id=10**6)
        blast(f"http://127.0.0.1:{base_port}/webhooks/zendesk/acme", warm, args.clients)
        bodies = payloads(args.events, first_id=1)
        base_seconds, base_status = blast(f"http://127.0.0.1:{base_port}/webhooks/zendesk/acme", bodies, args.clients)
        procs.stop(baseline)
        base_rate = args.events / base_seconds

        # 2. Escalator's receiver alone (no worker running): verify, parse, dedupe + queue atomically.
        receiver = procs.start([ESCALATOR, "serve", "--port", str(app_port), "--threads", "8"], env)
        wait_http(f"http://127.0.0.1:{app_port}/healthz")
        url = f"http://127.0.0.1:{app_port}/webhooks/zendesk/acme"
        accept_seconds, accept_status = blast(url, bodies, args.clients)
        accept_rate = args.events / accept_seconds

        # 3. Drain: workers start on the queued backlog (decision + 2 PUTs per event).
        started = time.perf_counter()
        workers = [procs.start([ESCALATOR, "worker"], env) for _ in range(args.workers)]
        drained_at = wait_writes(desk_url, 2 * args.events, timeout=600)
        drain_rate = args.events / (drained_at - started)

        # 4. Sustained end to end: webhooks arrive while workers run (all parts compete for the 2 cores).
        second = payloads(args.events, first_id=args.events + 1)
        started = time.perf_counter()
        _sustain_seconds, sustain_status = blast(url, second, args.clients)
        done_at = wait_writes(desk_url, 4 * args.events, timeout=600)
        e2e_rate = args.events / (done_at - started)

        # 5. Latency at low load: one webhook at a time, from POST to the last PUT arriving at the desk.
        first = 2 * args.events + 1
        samples = payloads(args.latency_samples, first_id=first)
        session = requests.Session()
        posted: dict[str, float] = {}
        for index, body in enumerate(samples):
            posted[str(first + index)] = time.time()
            session.post(url, data=body, headers=headers_for(body), timeout=10)
            time.sleep(0.05)
        wait_writes(desk_url, 4 * args.events + 2 * args.latency_samples, timeout=120)
        last = stats(desk_url)["last_write"]
        latencies = sorted((last[ticket] - at) * 1000 for ticket, at in posted.items())
        for worker in workers:
            procs.stop(worker)
        procs.stop(receiver)

        p = statistics.quantiles(latencies, n=100)
        print()
        print(f"{'measure':<48}{'figure':>14}")
        print(f"{'baseline: bare Flask + LPUSH (webhooks/s)':<48}{base_rate:>14,.0f}   statuses {base_status}")
        print(f"{'escalator receiver (webhooks/s accepted)':<48}{accept_rate:>14,.0f}   statuses {accept_status}")
        print(f"{'  ratio to baseline':<48}{accept_rate / base_rate:>14.2f}")
        print(f"{'drain of the queued backlog (events/s)':<48}{drain_rate:>14,.0f}")
        print(f"{'sustained end to end (events/s)':<48}{e2e_rate:>14,.0f}   statuses {sustain_status}")
        print(f"{'  ratio to baseline accept rate':<48}{e2e_rate / base_rate:>14.2f}")
        print(f"{'latency webhook -> last write, p50 (ms)':<48}{p[49]:>14.1f}")
        print(f"{'latency webhook -> last write, p99 (ms)':<48}{p[98]:>14.1f}")
        print(f"{'latency webhook -> last write, max (ms)':<48}{latencies[-1]:>14.1f}")
        total_puts = stats(desk_url)["writes"]
        print(f"\nvendor calls per escalated event: 2 PUTs, no read-back ({total_puts} PUTs in total)")
    finally:
        procs.stop_all()
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
