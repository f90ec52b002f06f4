"""The fault suite: the faults a production help-desk integration meets every week, on real processes.

Each scenario ends with `Deployment.verify`: 0 events lost, 0 duplicate customer replies, 0 writes to the
wrong tenant, 0 5xx but the documented 503, and the processes still running.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.faults.conftest import Deployment, wait_for

pytestmark = pytest.mark.faults

PUT = r"PUT /api/v2/tickets/\d+\.json"


def test_an_idle_worker_stays_up_and_a_redis_restart_mid_burst_loses_nothing(deployment: Deployment) -> None:
    deployment.start_serve()
    deployment.start_worker()
    time.sleep(15)  # idle: longer than the 5-second read timeout redis-py 8 would have given RQ's dequeue
    assert deployment.workers[0].poll() is None, "the idle worker quit:\n" + deployment.log("worker-0")
    payloads = deployment.open_tickets("acme", 100)
    first, rest = payloads[:30], payloads[30:]
    deployment.send([("acme", payload) for payload in first])

    restarted = threading.Event()

    def restart() -> None:
        deployment.redis.stop()
        time.sleep(1.5)
        deployment.redis.start()
        restarted.set()

    thread = threading.Thread(target=restart)
    thread.start()
    deployment.send([("acme", payload) for payload in rest])
    thread.join()
    assert restarted.is_set()
    figures = deployment.verify()
    assert figures == {"tickets": 100, "lost": 0, "duplicated": 0, "wrong_tenant": 0}
    assert set(deployment.statuses) <= {202, 200, 503}
    worker_log = deployment.log("worker-0")
    assert worker_log.count("Traceback") == 0, worker_log[-3000:]
    assert worker_log.count("Redis unavailable") <= 1 and worker_log.count("Redis is back") <= 1


def test_a_worker_killed_mid_write_is_replaced_and_nothing_is_lost_or_sent_twice(deployment: Deployment) -> None:
    deployment.start_serve()
    victim = deployment.start_worker()
    payloads = deployment.open_tickets("acme", 20)
    deployment.desks["acme"].control("slow", {"pattern": PUT, "seconds": 0.6, "times": 1000})
    deployment.send([("acme", payload) for payload in payloads])
    wait_for(lambda: len(deployment.desks["acme"].writes()) >= 3, 60, "the first writes")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    deployment.start_worker()
    figures = deployment.verify(timeout=180)
    assert figures["lost"] == 0 and figures["duplicated"] == 0


def test_the_help_desk_failing_for_30_seconds_then_429_slow_and_dropped(deployment: Deployment) -> None:
    deployment.start_serve()
    deployment.start_worker()
    acme = deployment.desks["acme"]
    acme.control("outage", {"status": 503, "seconds": 30})
    deployment.send([("acme", payload) for payload in deployment.open_tickets("acme", 15)])
    deployment.verify(timeout=180)

    acme.control("fault", {"pattern": PUT, "status": 429, "times": 6, "retry_after": 2})
    acme.control("slow", {"pattern": PUT, "seconds": 2.0, "times": 4})
    acme.control("drop", {"pattern": PUT, "times": 4})  # not handled: the write did not land
    acme.control("lose", {"pattern": PUT, "times": 4})  # handled, answer lost: the write landed
    deployment.send([("acme", payload) for payload in deployment.open_tickets("acme", 15)])
    figures = deployment.verify(timeout=180)
    assert figures["tickets"] == 30


def test_duplicate_and_shuffled_deliveries_of_two_interleaved_tenants(deployment: Deployment) -> None:
    deployment.start_serve()
    deployment.start_worker()
    deployment.start_worker()
    batches = [("acme", payload) for payload in deployment.open_tickets("acme", 25)]
    batches += [("globex", payload) for payload in deployment.open_tickets("globex", 25)]
    statuses = deployment.send(batches, senders=8, repeat=3, shuffle=True)
    assert statuses.count(202) == 50, "each delivery is queued once; its repeats are answered 200"
    assert statuses.count(200) == 100
    figures = deployment.verify()
    assert figures == {"tickets": 50, "lost": 0, "duplicated": 0, "wrong_tenant": 0}


def test_huge_and_odd_requests_against_the_real_receiver(deployment: Deployment) -> None:
    """What the HTTP server itself meets (waitress): huge headers, a body over the limit, a chunked body."""
    import requests

    deployment.start_serve()
    url = f"http://127.0.0.1:{deployment.receiver_port}/webhooks/zendesk/acme"
    answers = [
        requests.post(url, data=b"{}", headers={"X-Huge": "h" * 100_000}, timeout=10).status_code,
        requests.post(url, data=b"{}", headers={f"X-{i}": "v" * 100 for i in range(2000)}, timeout=10).status_code,
        requests.post(url, data=b"x" * (3 * 1024 * 1024), timeout=10).status_code,
        requests.post(url, data=iter([b"x" * 65536] * 8), timeout=10).status_code,  # chunked, over the limit
        requests.post(url + "/../../admin", data=b"{}", timeout=10).status_code,
    ]
    assert all(400 <= status < 500 for status in answers), answers
    assert requests.get(f"http://127.0.0.1:{deployment.receiver_port}/healthz", timeout=5).status_code == 200
    assert deployment.serve is not None and deployment.serve.poll() is None
