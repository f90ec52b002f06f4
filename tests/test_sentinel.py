"""`REDIS_URL=redis+sentinel://…/<master>`: the receiver and a real `escalator worker` find the master through
a Sentinel (a private one, beside a private master), and a webhook is decided and written back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.connection import connect
from escalator.plugin.runtime import Runtime
from tests.conftest import RedisServer, _free_port
from tests.support import SECRET, V1_POLICY, signed_headers, tenant_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sentinel_url(tmp_path: Path) -> Iterator[str]:
    """A private master watched by a private Sentinel; the URL names the Sentinel and the master's name."""
    (tmp_path / "master").mkdir()
    master = RedisServer(tmp_path / "master")
    master.start()
    port = _free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor esc-master 127.0.0.1 {master.port} 1\nsentinel down-after-milliseconds esc-master 5000\n"
    )
    binary = shutil.which("redis-server")
    assert binary is not None
    sentinel = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=port).sentinel_get_master_addr_by_name("esc-master"):
                    break
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        yield f"redis+sentinel://127.0.0.1:{port}/esc-master"
    finally:
        sentinel.terminate()
        sentinel.wait(timeout=10)
        master.stop()


def test_a_webhook_goes_through_a_sentinel_managed_master(sentinel_url: str, desk: FakeZendesk, tmp_path: Path) -> None:
    client = connect(sentinel_url, "receiver")
    runtime = Runtime(Config(tenants={"acme": tenant_config(desk.base_url)}), client)
    assert not runtime.hand_over, "one master: drains run as RQ jobs"
    jane = desk.add_user("Jane Doe", "jane@globex.example")
    ticket = int(desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)["id"])
    body = json.dumps(desk.pending_webhooks()[0]).encode()
    answer = create_app(runtime).test_client().post("/webhooks/zendesk/acme", data=body, headers=signed_headers(body))
    assert answer.status_code == 202
    assert client.llen(keys.inbox("acme", str(ticket))) == 1

    config = tmp_path / "escalator.json"
    auth = {"email": "escalator@acme.example", "api_token": "token"}
    tenant = {"vendor": "zendesk", "base_url": desk.base_url, "webhook_secret": SECRET, "rules": str(V1_POLICY),
              "auth": auth, "reconcile": {"every": "off"}}  # fmt: skip
    config.write_text(json.dumps({"tenants": {"acme": tenant}}))
    env = {**os.environ, "ESCALATOR_CONFIG": str(config), "REDIS_URL": sentinel_url,
           "ESCALATOR_HEALTH_FILE": str(tmp_path / "alive")}  # fmt: skip
    worker = subprocess.Popen([sys.executable, "-m", "escalator.plugin.cli", "worker", "--burst"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    output = worker.communicate(timeout=60)[0].decode()
    assert worker.returncode == 0, output
    assert len([write for write in desk.writes if write["ticket_id"] == ticket]) == 2, output
