"""The fault suite's deployment: real processes as an admin runs them.

A private `redis-server` (AOF on, restartable), a fake Zendesk per tenant in its own process
(`tests.faults.deskserver`), `escalator serve` and `escalator worker` processes with a configuration file,
and senders that deliver signed webhooks from several threads the way a help desk retries: a 503 is
delivered again after its Retry-After; a connection refused is retried.

Every scenario ends with the same checks (`Deployment.verify`): no event lost (every ticket escalated),
no customer reply sent twice, no write to another tenant's help desk, no 5xx but the documented 503, and
every process still running.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import RedisServer, _free_port
from tests.support import V1_POLICY, signed_headers

ROOT = Path(__file__).resolve().parents[2]
ESCALATOR = [sys.executable, "-m", "escalator.plugin.cli"]
TENANTS = {"acme": ("Ann", "acme-secret"), "globex": ("Gus", "globex-secret")}
"""tenant -> (its customers' first name, its webhook secret): a reply naming the other's customer is a leak."""
SETTLE_SECONDS = 150.0
CREDENTIALS = ("escalator@acme.example/token", "token")


@dataclass
class Desk:
    tenant: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The fake checks credentials on every route, its control routes too: use Escalator's."""
        url = f"{self.url}/_control/{path}"
        if body is None:
            return requests.get(url, auth=CREDENTIALS, timeout=10).json()
        return requests.post(url, json=body, auth=CREDENTIALS, timeout=30).json()

    def writes(self) -> list[dict[str, Any]]:
        return list(self.control("writes")["writes"])


@dataclass
class Deployment:
    directory: Path
    redis: RedisServer
    desks: dict[str, Desk]
    config: Path
    receiver_port: int
    serve: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    expected: dict[str, set[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- processes -----------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ESCALATOR_CONFIG": str(self.config),
            "REDIS_URL": self.redis.url,
            "ESCALATOR_HEALTH_FILE": str(self.directory / f"health-{len(self.workers)}"),
            "PYTHONUNBUFFERED": "1",
        }

    def _spawn(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        return subprocess.Popen([*ESCALATOR, *argv], env=self.env(), stdout=log, stderr=log, cwd=ROOT)

    def start_serve(self) -> None:
        self.serve = self._spawn("serve", "serve", "--port", str(self.receiver_port), "--threads", "8")
        wait_for(lambda: _answers(f"http://127.0.0.1:{self.receiver_port}/healthz"), 30, "the receiver to start")

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = self._spawn(f"worker-{len(self.workers)}", "worker")
        self.workers.append(worker)
        return worker

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in [*self.workers, *([self.serve] if self.serve else [])]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.workers, *([self.serve] if self.serve else [])]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    # --- the help desk's side ------------------------------------------------------------------------------

    def open_tickets(self, tenant: str, count: int, **spec: Any) -> list[dict[str, Any]]:
        answer = self.desks[tenant].control("tickets", {"count": count, **spec})
        self.expected.setdefault(tenant, set()).update(answer["ids"])
        return list(answer["payloads"])

    def deliver(self, tenant: str, payload: dict[str, Any], *, patience: float = 120.0) -> int:
        """One delivery as a help desk makes it: again after a 503 (its Retry-After, capped to keep tests
        short) or a refused connection, until it is accepted or refused for good."""
        body = json.dumps(payload).encode()
        url = f"http://127.0.0.1:{self.receiver_port}/webhooks/zendesk/{tenant}"
        deadline = time.monotonic() + patience
        while True:
            try:
                answer = requests.post(url, data=body, headers=signed_headers(body, TENANTS[tenant][1]), timeout=10)
            except requests.ConnectionError:
                status = 0
            else:
                status = answer.status_code
                with self._lock:
                    self.statuses[status] += 1
                if status == 503:
                    assert answer.headers.get("Retry-After"), "a 503 always says when to come back"
            if status not in (0, 503) or time.monotonic() > deadline:
                return status
            time.sleep(0.2 + random.random() * 0.3)

    def send(
        self, batches: list[tuple[str, dict[str, Any]]], *, senders: int = 8, repeat: int = 1, shuffle: bool = False
    ) -> list[int]:
        deliveries = [item for item in batches for _ in range(repeat)]
        if shuffle:
            random.shuffle(deliveries)
        with ThreadPoolExecutor(senders) as pool:
            return list(pool.map(lambda item: self.deliver(*item), deliveries))

    # --- checks --------------------------------------------------------------------------------------------

    def replies(self, tenant: str) -> Counter[int]:
        return Counter(
            int(write["ticket_id"]) for write in self.desks[tenant].writes() if write.get("comment", {}).get("public")
        )

    def settled(self) -> bool:
        return all(set(self.replies(tenant)) >= ids for tenant, ids in self.expected.items())

    def verify(self, *, timeout: float = SETTLE_SECONDS) -> dict[str, int]:
        """Wait until every ticket was answered, then check the suite's invariants; returns the figures."""
        wait_for(self.settled, timeout, "every ticket to be escalated", self.diagnose)
        time.sleep(1.0)  # a duplicate would arrive about now
        figures = {"tickets": 0, "lost": 0, "duplicated": 0, "wrong_tenant": 0}
        for tenant, ids in self.expected.items():
            replies = self.replies(tenant)
            figures["tickets"] += len(ids)
            figures["lost"] += len(ids - set(replies))
            figures["duplicated"] += sum(count - 1 for count in replies.values() if count > 1)
            own, other = TENANTS[tenant][0], [name for name, _ in TENANTS.values() if name != TENANTS[tenant][0]]
            for write in self.desks[tenant].writes():
                body = write.get("comment", {}).get("body", "")
                if write.get("comment", {}).get("public") and (own not in body or any(n in body for n in other)):
                    figures["wrong_tenant"] += 1
                if int(write["ticket_id"]) not in ids:
                    figures["wrong_tenant"] += 1
        assert figures["lost"] == 0, f"events lost: {figures}\n{self.diagnose()}"
        assert figures["duplicated"] == 0, f"a customer got the same reply twice: {figures}"
        assert figures["wrong_tenant"] == 0, f"a write reached the wrong tenant: {figures}"
        unexpected = {status: n for status, n in self.statuses.items() if status >= 500 and status != 503}
        assert not unexpected, f"5xx other than 503: {unexpected}"
        assert self.serve is None or self.serve.poll() is None, "the receiver died:\n" + self.log("serve")[-3000:]
        alive = [worker for worker in self.workers if worker.returncode is None and worker.poll() is None]
        assert alive, "no worker left running"
        return figures

    def diagnose(self) -> str:
        lines = [f"statuses: {dict(self.statuses)}"]
        for tenant, ids in self.expected.items():
            missing = sorted(ids - set(self.replies(tenant)))
            lines.append(f"{tenant}: {len(missing)} without a reply: {missing[:20]}")
        for index in range(len(self.workers)):
            lines.append(f"--- worker-{index}.log (tail)\n" + self.log(f"worker-{index}")[-2500:])
        return "\n".join(lines)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, auth=CREDENTIALS, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, explain: Callable[[], str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{explain() if explain else ''}")


def _config(path: Path, desks: dict[str, Desk]) -> None:
    tenants = {
        tenant: {
            "vendor": "zendesk",
            "base_url": desk.url,
            "auth": {"email": "escalator@acme.example", "api_token": "token"},
            "webhook_secret": TENANTS[tenant][1],
            "rules": str(V1_POLICY),
            "reconcile": {"every": "off"},
            # The fakes enforce no budget; the default (Zendesk's smallest plan, 100 updates a minute) would
            # only make the scenarios wait for the limiter.
            "rate_limit": {"requests_per_minute": 60000, "ticket_updates_per_minute": 30000},
        }
        for tenant, desk in desks.items()
    }
    path.write_text(json.dumps({"public_url": "http://127.0.0.1:8000", "tenants": tenants}))


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    server = RedisServer(redis_dir)
    server.start()
    desks: dict[str, Desk] = {}
    for tenant, (requester, _) in TENANTS.items():
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.deskserver", "--port", str(port), "--requester", requester],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"desk-{tenant}.log", "wb"),  # noqa: SIM115
        )
        desks[tenant] = Desk(tenant, port, process)
    for desk in desks.values():
        wait_for(lambda desk=desk: _answers(f"{desk.url}/_control/writes"), 30, f"the {desk.tenant} desk")
    config = tmp_path / "escalator.json"
    _config(config, desks)
    deployment = Deployment(tmp_path, server, desks, config, _free_port())
    try:
        yield deployment
    finally:
        deployment.stop()
        for desk in desks.values():
            desk.process.terminate()
            desk.process.wait(timeout=10)
        server.stop()
