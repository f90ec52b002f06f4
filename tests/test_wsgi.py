"""The receiver as a WSGI app on several processes: gunicorn (as compose runs it) with plugin.wsgi, on the
private Redis. Each process builds its own runtime after the fork; every one of them queues durably."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests

from escalator.plugin import keys
from escalator.plugin.wsgi import SetupError, create_app
from tests.conftest import _free_port
from tests.support import SECRET, V1_POLICY, signed_headers

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "escalator.json"
    path.write_text(
        json.dumps(
            {
                "tenants": {
                    "acme": {
                        "vendor": "zendesk",
                        "base_url": "http://127.0.0.1:9",
                        "webhook_secret": SECRET,
                        "auth": {"email": "escalator@acme.example", "api_token": "token"},
                        "rules": str(V1_POLICY),
                        "reconcile": {"every": "off"},
                    }
                }
            }
        )
    )
    return path


def payload(ticket: int) -> bytes:
    body = {
        "type": "zen:event-type:ticket.created",
        "account_id": 1,
        "id": f"delivery-{ticket}",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket}",
        "detail": {"id": str(ticket), "subject": "How do I export?", "description": "Where is it?", "status": "NEW",
                   "priority": None, "requester_id": "5", "group_id": None, "created_at": "2026-03-02T14:00:00Z",
                   "updated_at": "2026-03-02T14:00:00Z", "tags": [], "actor_id": "5", "via": {"channel": "web_form"}},
        "event": {"meta": {}},
    }  # fmt: skip
    return json.dumps(body).encode()


def test_gunicorn_serves_the_receiver_from_several_processes(redis_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "ESCALATOR_CONFIG": str(config_file(tmp_path)), "REDIS_URL": redis_url}
    args = [GUNICORN, "-c", "python:escalator.plugin.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    server = subprocess.Popen([*args, "escalator.plugin.wsgi:app"], env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        session = requests.Session()
        answers = []
        for ticket in range(1, 41):
            body = payload(ticket)
            url = f"http://127.0.0.1:{port}/webhooks/zendesk/acme"
            answers.append(session.post(url, data=body, headers=signed_headers(body), timeout=5).status_code)
        again = session.post(url, data=payload(1), headers=signed_headers(payload(1)), timeout=5)
        assert answers == [202] * 40 and again.status_code == 200
        client = redis.Redis.from_url(redis_url)
        assert client.zcard(keys.ready("acme")) == 40
        assert client.hget(keys.metrics("acme"), "webhooks:accepted:202") == b"40"
        children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 2, "one receiver process per configured worker"
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=20)
    assert server.returncode == 0, errors.decode()[-2000:]


def test_the_wsgi_app_needs_a_redis_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config_file(tmp_path)))
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SetupError, match="REDIS_URL"):
        create_app()
    monkeypatch.delenv("ESCALATOR_CONFIG")
    with pytest.raises(SetupError, match="ESCALATOR_CONFIG"):
        create_app()
