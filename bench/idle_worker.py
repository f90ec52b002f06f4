"""The long variant of the fault suite's idle check: `escalator worker` left idle for minutes, then asked to work.

    .venv/bin/python bench/idle_worker.py --minutes 10

Starts a private redis-server, a fake Zendesk, `escalator serve` and `escalator worker` as separate processes
(as an admin runs them), leaves them idle, then sends outage tickets and measures webhook -> reply. Prints
whether the worker is still running, how long the first escalation took and the last customer notice (a
burst of outages opens an incident, whose joiners are told in bulk), and the redis-py version (run it
with each venv: `.venv` has the newest redis-py the project admits, `.venv-lowest` the oldest).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, private_redis  # noqa: E402
from escalator.plugin.demo import seed_policy_path  # noqa: E402
from escalator.plugin.incidents.service import FLUSH_SECONDS  # noqa: E402
from tests.support import signed_headers  # noqa: E402

SECRET = "bench-secret"
CREDENTIALS = ("escalator@acme.example/token", "token")


def wait_for(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, auth=CREDENTIALS, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--tickets", type=int, default=20)
    args = parser.parse_args()
    with private_redis() as url, tempfile.TemporaryDirectory() as directory:
        desk_port, serve_port = free_port(), free_port()
        desk = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.deskserver", "--port", str(desk_port), "--requester", "Ann"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        config = Path(directory) / "escalator.json"
        config.write_text(json.dumps({"tenants": {"acme": {
            "vendor": "zendesk", "base_url": f"http://127.0.0.1:{desk_port}",
            "auth": {"email": "escalator@acme.example", "api_token": "token"}, "webhook_secret": SECRET,
            "rules": str(seed_policy_path()), "reconcile": {"every": "off"},
            "rate_limit": {"requests_per_minute": 60000, "ticket_updates_per_minute": 30000}}}}))  # fmt: skip
        env = {**os.environ, "ESCALATOR_CONFIG": str(config), "REDIS_URL": url,
               "ESCALATOR_HEALTH_FILE": str(Path(directory) / "alive")}  # fmt: skip
        command = [sys.executable, "-m", "escalator.plugin.cli"]
        log = open(Path(directory) / "worker.log", "wb")  # noqa: SIM115
        serve = subprocess.Popen([*command, "serve", "--port", str(serve_port)], env=env, stdout=subprocess.DEVNULL)
        worker = subprocess.Popen([*command, "worker"], env=env, stdout=log, stderr=log)
        try:
            wait_for(f"http://127.0.0.1:{desk_port}/_control/writes")
            wait_for(f"http://127.0.0.1:{serve_port}/healthz")
            print(f"redis-py {redis.__version__}: serve and worker up; idle for {args.minutes:g} minutes", flush=True)
            time.sleep(args.minutes * 60)
            running = worker.poll() is None
            opened = requests.post(
                f"http://127.0.0.1:{desk_port}/_control/tickets", json={"count": args.tickets}, auth=CREDENTIALS,
                timeout=30,
            ).json()  # fmt: skip
            started = time.monotonic()
            for payload in opened["payloads"]:
                body = json.dumps(payload).encode()
                requests.post(f"http://127.0.0.1:{serve_port}/webhooks/zendesk/acme", data=body,
                              headers=signed_headers(body, SECRET), timeout=10)  # fmt: skip
            replied: set[int] = set()
            first: float | None = None
            while time.monotonic() - started < 60 and len(replied) < len(opened["ids"]):
                writes = requests.get(f"http://127.0.0.1:{desk_port}/_control/writes", auth=CREDENTIALS, timeout=10)
                replied = {w["ticket_id"] for w in writes.json()["writes"] if w.get("comment", {}).get("public")}
                if replied and first is None:
                    first = time.monotonic() - started
                time.sleep(0.2)
            took = time.monotonic() - started
            print(f"worker still running after {args.minutes:g} idle minutes: {running}")
            print(f"first outage ticket escalated {first or took:.2f} s after the webhooks")
            print(
                f"{len(replied)}/{len(opened['ids'])} told {took:.2f} s after the webhooks (from the 4th, the shipped "
                f"policy opens an incident: tickets joining it after its first step hear in one bulk notice within "
                f"{FLUSH_SECONDS:g} s)"
            )
            print(f"worker log lines: {len(Path(directory, 'worker.log').read_text().splitlines())}")
        finally:
            for process in (worker, serve, desk):
                process.terminate()
                process.wait(timeout=20)


if __name__ == "__main__":
    main()
