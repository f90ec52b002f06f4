"""The whole pipeline on a real 3-master Redis Cluster: webhooks in, decisions and write-backs out, SLA timers
firing on every shard, and drains handed to workers without RQ (which cannot run on a cluster).

Tenants are picked so that their hash slots lie on all three masters; Redis Cluster itself refuses a script
that touches keys of another slot, so every scenario passing here is every script staying in its tenant's
slot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.connection import connect, is_cluster
from escalator.plugin.embedded import EmbeddedService
from escalator.plugin.jobs import quiet
from escalator.plugin.wsgi import create_app as wsgi_app
from tests.support import SECRET, signed_headers, tenant_config, wait_for

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", "cyberdyne", "soylent"]

SLA_POLICY: dict[str, Any] = {
    "version": 1,
    "tiers": [
        {"id": "L1", "name": "Frontline", "group": "Tier 1"},
        {"id": "L2", "name": "Specialists", "group": "Tier 2"},
    ],
    "slas": [
        {"tier": "L1", "priority": "high", "first_response": "3s"},
        {"tier": "L2", "priority": "*", "first_response": "1h"},
    ],
    "triggers": [
        {"id": "outage", "on": ["ticket.created"],
         "if": {"field": "text", "operator": "contains_any", "value": ["outage"]},
         "then": [{"action": "escalate", "to": "L2"}, {"action": "note", "template": "handoff"}]},
        {"id": "sla-breach", "on": ["sla.breached"],
         "then": [{"action": "escalate", "to": "next"}, {"action": "set_priority", "value": "+1"}]},
    ],
    "templates": {"handoff": "Escalated by {{ rule.id }}"},
}  # fmt: skip


def spread_tenants(client: RedisCluster) -> list[str]:
    """Tenant names whose slots lie on every master (one per master), so every shard is exercised."""
    chosen: dict[str, str] = {}
    for name in CANDIDATES:
        node = client.get_node_from_key(keys.tenant_key(name, "ready"))
        chosen.setdefault(node.name, name)
    assert len(chosen) == 3, f"the candidates cover only {sorted(chosen)}"
    return sorted(chosen.values())


@dataclass
class ClusterDeployment:
    redis: redis.Redis
    tenants: list[str]
    desks: dict[str, FakeZendesk]
    config: Config
    rules: Path

    def post(self, client: Any, tenant: str, payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        answer = client.post(f"/webhooks/zendesk/{tenant}", data=body, headers=signed_headers(body))
        return int(answer.status_code)

    def deliver(self, client: Any, tenant: str) -> list[int]:
        desk = self.desks[tenant]
        statuses = [self.post(client, tenant, payload) for payload in desk.pending_webhooks()]
        desk._outbox.clear()
        return statuses


@pytest.fixture
def deployment(cluster_url: str, tmp_path: Path) -> Iterator[ClusterDeployment]:
    client = connect(cluster_url, "commands")
    assert is_cluster(client)
    tenants = spread_tenants(client)  # type: ignore[arg-type]
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(SLA_POLICY))
    desks = {tenant: FakeZendesk(webhook_secret=SECRET, webhook_url="http://unused.invalid/") for tenant in tenants}
    for desk in desks.values():
        desk.start()
    config = Config(
        tenants={tenant: tenant_config(desk.base_url, name=tenant, rules_path=rules) for tenant, desk in desks.items()}
    )
    try:
        yield ClusterDeployment(client, tenants, desks, config, rules)
    finally:
        for desk in desks.values():
            desk.stop()
        client.close()


def test_tenants_spread_over_every_master_and_their_keys_share_one_slot(deployment: ClusterDeployment) -> None:
    nodes = {deployment.redis.get_node_from_key(keys.ready(tenant)).name for tenant in deployment.tenants}  # type: ignore[attr-defined]
    assert len(nodes) == 3
    for tenant in deployment.tenants:
        slots = {key_slot(key.encode()) for key in (keys.ready(tenant), keys.inbox(tenant, "1"), keys.metrics(tenant))}
        slots.add(key_slot(f"{keys.timers(tenant)}:timers:pending".encode()))
        assert len(slots) == 1, f"{tenant}'s keys span slots {slots}"


def test_webhooks_are_decided_and_written_back_on_every_shard_without_rq(deployment: ClusterDeployment) -> None:
    service = EmbeddedService(deployment.config, deployment.redis)
    runtime = service.start()
    assert runtime.hand_over, "on a cluster drains are handed over in Redis, not through RQ"
    client = create_app(runtime).test_client()
    try:
        tickets: dict[str, tuple[int, int]] = {}
        for tenant, desk in deployment.desks.items():
            jane = desk.add_user("Jane Doe", "jane@globex.example")
            outage = int(desk.create_ticket("Outage in the EU", "Nothing loads", jane)["id"])
            how_to = int(desk.create_ticket("How do I export?", "Where is the button?", jane)["id"])
            tickets[tenant] = (outage, how_to)
            created = desk.pending_webhooks()
            assert deployment.deliver(client, tenant) == [202, 202]
            assert deployment.post(client, tenant, created[0]) == 200, "a repeat delivery is answered 200, once"
        for tenant, (outage, how_to) in tickets.items():
            desk = deployment.desks[tenant]
            wait_for(
                lambda desk=desk, outage=outage: len([w for w in desk.writes if w["ticket_id"] == outage]) == 1, 20.0
            )
            (write,) = [w for w in desk.writes if w["ticket_id"] == outage]
            assert write["group_id"] == 102 and write["comment"] == {"body": "Escalated by outage", "public": False}
            assert not [w for w in desk.writes if w["ticket_id"] == how_to], "a ticket matching nothing: no write"
            wait_for(lambda tenant=tenant: quiet(runtime, tenant), 20.0)
            assert runtime.jobs.count == 0, "no RQ job on a cluster"
            metrics = deployment.redis.hgetall(keys.metrics(tenant))
            assert metrics[b"events"] == b"2" and metrics[b"webhooks:accepted:202"] == b"2"
    finally:
        service.stop()


def test_sla_timers_fire_on_every_shard(deployment: ClusterDeployment) -> None:
    service = EmbeddedService(deployment.config, deployment.redis)
    runtime = service.start()
    client = create_app(runtime).test_client()
    try:
        tickets = {}
        for tenant, desk in deployment.desks.items():
            jane = desk.add_user("Jane Doe", "jane@globex.example")
            tickets[tenant] = int(desk.create_ticket("Export broken", "It fails", jane, priority="high")["id"])
            assert deployment.deliver(client, tenant) == [202]
        started = time.time()
        for tenant, ticket in tickets.items():
            desk = deployment.desks[tenant]
            wait_for(lambda desk=desk, ticket=ticket: any(w["ticket_id"] == ticket for w in desk.writes), 15.0)
            (breach,) = [w for w in desk.writes if w["ticket_id"] == ticket]
            assert breach["group_id"] == 102 and breach["priority"] == "urgent", "the breach escalated it"
        assert time.time() - started < 10.0
        for tenant in tickets:
            assert runtime.timers(tenant).inflight_count() == 0
    finally:
        service.stop()


def test_escalator_worker_and_the_wsgi_receiver_run_on_the_cluster(
    deployment: ClusterDeployment, cluster_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real `escalator worker` process (its hand-over loop and signal handling) and the multi-process
    receiver's app factory, both from a `redis+cluster://` REDIS_URL."""
    config = tmp_path / "escalator.json"
    config.write_text(
        json.dumps(
            {
                "tenants": {
                    tenant: {
                        "vendor": "zendesk",
                        "base_url": desk.base_url,
                        "webhook_secret": SECRET,
                        "auth": {"email": "escalator@acme.example", "api_token": "token"},
                        "rules": str(deployment.rules),
                        "reconcile": {"every": "off"},
                    }
                    for tenant, desk in deployment.desks.items()
                }
            }
        )
    )
    env = {**os.environ, "ESCALATOR_CONFIG": str(config), "REDIS_URL": cluster_url,
           "ESCALATOR_HEALTH_FILE": str(tmp_path / "alive")}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "escalator.plugin.cli", "worker"], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
        monkeypatch.setenv("REDIS_URL", cluster_url)
        client = wsgi_app().test_client()
        for tenant, desk in deployment.desks.items():
            jane = desk.add_user("Jane Doe", "jane@globex.example")
            desk.create_ticket("Outage in the EU", "Nothing loads", jane)
            assert deployment.deliver(client, tenant) == [202]
        for desk in deployment.desks.values():
            wait_for(lambda desk=desk: len(desk.writes) == 1, 30.0)
        wait_for(lambda: b'escalator_workers{state="idle"} 1.0' in client.get("/metrics").data, 15.0)
        assert deployment.redis.hlen(keys.WORKERS) == 1, "RQ does not run here: the worker keeps its own roster"
        worker.terminate()
        output = worker.communicate(timeout=20)[0].decode()
        assert worker.returncode == 0, output
        assert "Traceback" not in output
        assert deployment.redis.hlen(keys.WORKERS) == 0, "a stopping worker leaves the roster"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
