"""Shared test wiring: a runtime on the private Redis, pointed at a fake Zendesk, and a signed poster."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from rq import SimpleWorker

from escalator.connectors.zendesk.webhook import INVOCATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.config import Config, TenantConfig
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install

V1_POLICY = Path(__file__).parent / "fixtures" / "policy_v1.json"
"""The first shipped playbook, frozen: pipeline and engine tests decide with it, so what they assert does not
move when the shipped playbook (rules/seed-policy.json, tested in test_seed_policy.py) is reworded or retimed."""


TENANT = "acme"
SECRET = "s3cret-webhook-key"


def tenant_config(
    base_url: str, name: str = TENANT, secret: str = SECRET, rules_path: Path | None = None
) -> TenantConfig:
    return TenantConfig(
        name=name,
        vendor="zendesk",
        base_url=base_url,
        auth={"email": "escalator@acme.example", "api_token": "token"},
        webhook_secret=secret,
        rules_path=rules_path or V1_POLICY,
        rate_limit={"requests_per_minute": 700, "ticket_updates_per_minute": 100},
    )


def signed_headers(body: bytes, secret: str = SECRET, timestamp: str | None = None) -> dict[str, str]:
    stamp = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, body, stamp),
        INVOCATION_HEADER: "inv-" + stamp,
    }


@dataclass
class Pipeline:
    desk: FakeZendesk
    runtime: Runtime
    client: FlaskClient
    redis: redis.Redis
    writes_at: list[float] = field(default_factory=list)
    """Wall-clock time of each PUT the fake help desk received (filled by `live` pipelines)."""

    def post(
        self,
        payload: dict[str, Any] | bytes,
        *,
        tenant: str = TENANT,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.post(
            f"/webhooks/zendesk/{tenant}",
            data=body,
            headers=headers if headers is not None else signed_headers(body, secret),
        )

    def deliver_pending(self) -> list[int]:
        """Post what the fake help desk would have sent (new tickets, comments, echoes of our writes)."""
        statuses = []
        for payload in self.desk.pending_webhooks():
            statuses.append(self.post(payload).status_code)
        self.desk._outbox.clear()
        return statuses

    def work(self) -> None:
        """A real RQ worker, in burst mode: runs every queued drain job, then returns."""
        SimpleWorker([QUEUE_NAME], connection=self.redis).work(burst=True, with_scheduler=False)

    def settle(self, rounds: int = 4) -> None:
        """Deliver, work, and deliver the echoes of our own writes, until the help desk has nothing to say."""
        for _ in range(rounds):
            if not self.desk.pending_webhooks():
                return
            self.deliver_pending()
            self.work()

    def writes(self, ticket_id: int) -> list[dict[str, Any]]:
        return [write for write in self.desk.writes if write["ticket_id"] == ticket_id]

    def state(self, ticket_id: int | str) -> dict[str, Any]:
        """The ticket's state as the worker stored it ({} before its first pass)."""
        raw = self.redis.get(keys.state(TENANT, str(ticket_id)))
        return dict(json.loads(raw)) if raw else {}


def pipeline(redis_url: str, desk: FakeZendesk, rules_path: Path | None = None) -> Iterator[Pipeline]:
    connection = redis.Redis.from_url(redis_url)
    config = Config(tenants={TENANT: tenant_config(desk.base_url, rules_path=rules_path)})
    runtime = Runtime(config, connection)
    install(runtime)
    try:
        yield Pipeline(desk, runtime, create_app(runtime).test_client(), connection)
    finally:
        install(None)
        connection.close()


def wait_for(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll `predicate` until it holds: for what real processes and background threads do in their own time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def install_command(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """`escalator install acme ARGS` as a user runs it: its exit code and the lines it printed."""
    from escalator.plugin.cli import main

    code = main(["install", "acme", *args])
    return code, capsys.readouterr().out.splitlines()
