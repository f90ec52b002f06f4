"""Test wiring for Freshdesk: a runtime on the private Redis, pointed at the fake Freshdesk, and a poster that
sends what the admin's automation rule sends (the documented body, the shared secret)."""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from flask.testing import FlaskClient
from rq import SimpleWorker

from escalator.fakedesk.freshdesk import OWN_AGENT_ID, FakeFreshdesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.config import Config, TenantConfig
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install
from tests.support import V1_POLICY

TENANT = "globex"
SECRET = "fd-shared-secret-7f3a"
API_KEY = "fd-api-key-Yx9Q"
STATUSES = {"6": "pending", "7": "on_hold"}
"""The fake's custom statuses: "Waiting on Customer" (6) and "Waiting on Vendor" (7)."""


def tenant_config(
    base_url: str, name: str = TENANT, secret: str = SECRET, rules_path: Path | None = None
) -> TenantConfig:
    return TenantConfig(
        name=name,
        vendor="freshdesk",
        base_url=base_url,
        auth={"api_key": API_KEY},
        webhook_secret=secret,
        rules_path=rules_path or V1_POLICY,
        rate_limit={"requests_per_minute": 700, "ticket_updates_per_minute": 280},
        options={"freshdesk": {"statuses": dict(STATUSES)}},
    )


def new_desk() -> FakeFreshdesk:
    return FakeFreshdesk(webhook_secret=SECRET, webhook_url="http://unused.invalid/", api_key=API_KEY)


@dataclass
class FreshdeskPipeline:
    desk: FakeFreshdesk
    runtime: Runtime
    client: FlaskClient
    redis: redis.Redis

    def post(
        self,
        payload: dict[str, Any] | bytes,
        *,
        tenant: str = TENANT,
        headers: dict[str, str] | None = None,
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.post(
            f"/webhooks/freshdesk/{tenant}",
            data=body,
            headers=headers if headers is not None else self.desk.webhook_headers(),
        )

    def deliver_pending(self) -> list[int]:
        """Post what the fake's automation rules would have sent (new tickets, conversations, echoes)."""
        statuses = [self.post(payload).status_code for payload in self.desk.pending_webhooks()]
        self.desk.clear_webhooks()
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

    def ours(self, ticket_id: int) -> list[dict[str, Any]]:
        """The conversations Escalator wrote on a ticket, oldest first."""
        return [c for c in self.desk.conversations[ticket_id] if c["user_id"] == OWN_AGENT_ID]

    def state(self, ticket_id: int) -> dict[str, Any]:
        raw = self.redis.get(keys.state(TENANT, str(ticket_id)))
        return json.loads(raw) if raw else {}


def freshdesk_pipeline(
    redis_url: str, desk: FakeFreshdesk, rules_path: Path | None = None
) -> Generator[FreshdeskPipeline, None, None]:
    connection = redis.Redis.from_url(redis_url)
    runtime = Runtime(Config(tenants={TENANT: tenant_config(desk.base_url, rules_path=rules_path)}), connection)
    install(runtime)
    try:
        yield FreshdeskPipeline(desk, runtime, create_app(runtime).test_client(), connection)
    finally:
        install(None)
        connection.close()
