"""A deployment for benchmarks, every part a real process as an admin runs it: a private Redis (one server or
a 3-master cluster), a fake Zendesk, the receiver (gunicorn on every core, or `escalator serve`) and
`escalator worker` processes, plus the load generator and the Redis counters the benchmarks report.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port  # noqa: E402
from escalator.connectors.zendesk.webhook import INVOCATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign  # noqa: E402

SECRET = "bench-secret"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
ESCALATOR = str(BIN / "escalator")
GUNICORN = str(BIN / "gunicorn")
DESK_AUTH = {"Authorization": "Bearer bench"}
OUTAGE = ("Outage: cannot log in", "Nobody on our team can sign in.")
"""The most expensive path of the seed policy: escalated to L2, urgent, a reply and an internal note (2 PUTs)."""
HOW_TO = ("How do I export a CSV report?", "Where is the export button?")
"""A ticket that matches nothing: decided from the webhook's snapshot, no vendor call, no write."""


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2, headers=DESK_AUTH)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting up
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def wait_for(predicate: Any, timeout: float, what: str, poll: float = 0.02) -> float:
    """Poll until `predicate()`; returns the perf_counter time it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.perf_counter()
        time.sleep(poll)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


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
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process)


class Desk:
    """The fake Zendesk in its own process (bench/fakedesk_server.py)."""

    def __init__(self, procs: Processes) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = procs.start([PYTHON, "bench/fakedesk_server.py", "--port", str(self.port)])
        wait_http(f"{self.url}/_bench/stats")

    def tickets(self, count: int, kind: tuple[str, str], at: datetime | None = None) -> list[bytes]:
        """Open `count` tickets; their webhook bodies as the desk sends them."""
        bodies: list[bytes] = []
        for start in range(0, count, 2000):
            spec = {"count": min(2000, count - start), "subject": kind[0], "description": kind[1]}
            if at is not None:
                spec["at"] = at.isoformat()
            answer = requests.post(f"{self.url}/_bench/tickets", json=spec, headers=DESK_AUTH, timeout=120)
            bodies += [json.dumps(payload).encode() for payload in answer.json()["payloads"]]
        return bodies

    def stats(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/_bench/stats", headers=DESK_AUTH, timeout=10).json())

    def writes(self) -> int:
        return int(self.stats()["writes"])


def bench_policy(directory: Path) -> Path:
    """The shipped policy without its incident rules: a burst of identical outage tickets would otherwise be
    grouped into one incident (one problem ticket, one bulk notice) instead of escalated one by one, and the
    benchmark measures the one-by-one path."""
    policy = json.loads((ROOT / "rules" / "seed-policy.json").read_text())
    policy.pop("incidents", None)
    path = directory / "bench-policy.json"
    path.write_text(json.dumps(policy))
    return path


def config_file(directory: Path, desk_url: str, tenants: list[str], rules: Path | None = None) -> Path:
    """A configuration for `tenants` on the desk, with the bench policy unless `rules` is given."""
    path = directory / "escalator.json"
    path.write_text(
        json.dumps(
            {
                "tenants": {
                    tenant: {
                        "vendor": "zendesk",
                        "base_url": desk_url,
                        "webhook_secret": SECRET,
                        "auth": {"email": "escalator@acme.example", "api_token": "t"},
                        "rules": str(rules or bench_policy(directory)),
                        # Measure our pipeline, not the vendor's plan: lift the outbound budget.
                        "rate_limit": {"requests_per_minute": 10**7, "ticket_updates_per_minute": 10**7},
                        # The webhook path alone: no catch-up pass importing the fake desk's tickets.
                        "reconcile": {"every": "off"},
                    }
                    for tenant in tenants
                }
            }
        )
    )
    return path


def start_receiver(
    procs: Processes, env: dict[str, str], server: str, processes: int, threads: int
) -> tuple[subprocess.Popen[bytes], str]:
    """The receiver under `server`: "gunicorn" (plugin.wsgi, `processes` x `threads`) or "waitress"
    (`escalator serve`, one process); returns it and its base URL."""
    port = free_port()
    if server == "gunicorn":
        args = [GUNICORN, "-c", "python:escalator.plugin.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]
        args += ["--workers", str(processes), "--threads", str(threads), "escalator.plugin.wsgi:app"]
    else:
        args = [ESCALATOR, "serve", "--port", str(port), "--threads", str(threads)]
    process = procs.start(args, env)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return process, f"http://127.0.0.1:{port}"


def start_baseline(
    procs: Processes, redis_url: str, server: str, processes: int, threads: int
) -> tuple[subprocess.Popen[bytes], str]:
    """The bare Flask + LPUSH endpoint under the same server settings as the receiver."""
    port = free_port()
    if server == "gunicorn":
        args = [GUNICORN, "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}", "--workers", str(processes)]
        args += ["--threads", str(threads), "--log-level", "warning", "bench.baseline_server:create_app()"]
        process = procs.start(args, {"BASELINE_REDIS_URL": redis_url})
    else:
        args = [PYTHON, "bench/baseline_server.py", "--port", str(port), "--redis", redis_url]
        process = procs.start([*args, "--threads", str(threads)])
    wait_http(f"http://127.0.0.1:{port}/")
    return process, f"http://127.0.0.1:{port}"


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
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    parts = urlsplit(url)

    def run(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        # http.client with keep-alive: the load generator must cost far less than the server it measures.
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        local: Counter[int] = Counter()
        for body, headers in chunk:
            connection.request("POST", parts.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            local[response.status] += 1
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        connection.close()
        with lock:
            statuses.update(local)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, chunks))
    return time.perf_counter() - started, dict(statuses)


def decided(client: redis.Redis, tenant: str) -> int:
    """Events the workers have decided for `tenant` (the `events` counter of its metrics hash)."""
    return int(client.hget(f"esc:{{{tenant}}}:metrics", "events") or 0)


def command_calls(clients: list[redis.Redis]) -> Counter[str]:
    """Calls per command since the servers started (INFO commandstats), summed over `clients` (cluster nodes)."""
    calls: Counter[str] = Counter()
    for client in clients:
        for name, stat in client.info("commandstats").items():
            calls[name.removeprefix("cmdstat_")] += int(stat["calls"])
    return calls


@contextmanager
def client_requests(url: str, ignore: str = "") -> Iterator[Counter[str]]:
    """Commands clients send (MONITOR; a script's own commands are not requests), by command name, while the
    block runs; `ignore`: the address (host:port) of the bench's own connection. Each pipelined command counts
    as one: an upper bound on round trips."""
    counts: Counter[str] = Counter()
    stop = threading.Event()
    client = redis.Redis.from_url(url, socket_timeout=None)
    ready = threading.Event()

    def listen() -> None:
        with client.monitor() as monitor:
            ready.set()
            connection = monitor.connection
            while not stop.is_set():
                if connection is not None and not connection.can_read(timeout=0.1):
                    continue
                line = monitor.next_command()
                if line.get("client_type") == "lua" or not line.get("command"):
                    continue
                if f"{line.get('client_address')}:{line.get('client_port')}" == ignore:
                    continue
                counts[str(line["command"]).split(" ", 1)[0].lower()] += 1

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(10)
    time.sleep(0.2)
    try:
        yield counts
    finally:
        time.sleep(0.5)  # let MONITOR catch up with what was already sent
        stop.set()
        thread.join(5)
        client.close()


def _process_table() -> dict[int, tuple[int, float, str]]:
    """pid -> (parent pid, CPU seconds used, command line) for every process (Linux /proc)."""
    table: dict[int, tuple[int, float, str]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, command)
    return table


class CpuMeter:
    """CPU seconds each part of the deployment used between `start()` and `stop()`: where the two cores went.
    Parts are process trees (a gunicorn master and its workers count as one part)."""

    def __init__(self, parts: dict[str, list[int]]) -> None:
        """`parts`: name -> root pids (their descendants included)."""
        self.parts = parts
        self._start: dict[str, float] = {}

    def _used(self) -> dict[str, float]:
        table = _process_table()
        children: dict[int, list[int]] = {}
        for pid, (parent, _, _) in table.items():
            children.setdefault(parent, []).append(pid)
        used: dict[str, float] = {}
        for name, roots in self.parts.items():
            pending, total = list(roots), 0.0
            while pending:
                pid = pending.pop()
                total += table.get(pid, (0, 0.0, ""))[1]
                pending += children.get(pid, [])
            used[name] = total
        used["this benchmark (load generator)"] = table.get(os.getpid(), (0, 0.0, ""))[1]
        return used

    def start(self) -> None:
        self._start = self._used()

    def stop(self) -> dict[str, float]:
        return {name: used - self._start.get(name, 0.0) for name, used in self._used().items()}


def redis_pid(url: str) -> int:
    """The pid of the redis-server listening on `url`'s port."""
    return int(redis.Redis.from_url(url).info("server")["process_id"])


def show_cpu(title: str, used: dict[str, float], seconds: float) -> None:
    total = sum(used.values())
    print(f"  CPU, {title} ({seconds:.1f} s wall, {total:.1f} CPU s of {seconds * (os.cpu_count() or 1):.1f}):")
    for name, value in sorted(used.items(), key=lambda item: -item[1]):
        print(f"    {name:<40}{value:>7.2f} s  {100 * value / max(total, 1e-9):5.1f} %")
