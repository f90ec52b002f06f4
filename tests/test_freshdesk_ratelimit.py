"""Issue 4's burst: more escalations than the ticket-update budget, against a fake Freshdesk enforcing that
budget as a token bucket, complete without a 429 and without losing or repeating an update or a reply."""

from __future__ import annotations

import threading
import time

import redis
import requests

from escalator.connectors.base import Services
from escalator.connectors.freshdesk import FreshdeskConnector
from escalator.fakedesk.freshdesk import FRESHDESK_TICKET_UPDATE
from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.embedded import ThreadWorker
from escalator.plugin.jobs import sweep
from escalator.plugin.ratelimit import RedisRateLimiter, budgets_from_config
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install
from tests.support_freshdesk import TENANT, FreshdeskPipeline, new_desk, tenant_config

UPDATES_PER_PERIOD = 10
PERIOD = 2.0
"""Freshdesk's minute, scaled down so the test runs in seconds."""
TICKETS = 25


def drive(pipe: FreshdeskPipeline, expected_updates: int) -> None:
    """Two RQ workers in threads plus the sweeper (it wakes deferred tickets) until every update is in."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        workers = [ThreadWorker([QUEUE_NAME], connection=pipe.redis) for _ in range(2)]
        threads = [threading.Thread(target=worker.work, kwargs={"burst": True}) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        backlog = pipe.runtime.queue.backlog(TENANT)
        updates = [write for write in pipe.desk.writes if write["call"] == "update"]
        if len(updates) >= expected_updates and backlog["ready"] == 0 and backlog["processing"] == 0:
            return
        sweep(pipe.runtime)
        time.sleep(0.05)
    raise AssertionError(f"not done in time: backlog {pipe.runtime.queue.backlog(TENANT)}")


def test_a_burst_larger_than_the_update_budget_completes_without_a_429(redis_url: str) -> None:
    desk = new_desk()
    desk.enforce_rate_limits(100 * UPDATES_PER_PERIOD, UPDATES_PER_PERIOD, period=PERIOD)
    desk.start()
    connection = redis.Redis.from_url(redis_url)
    try:
        tenant = tenant_config(desk.base_url)
        rate_limit = {"requests_per_minute": 100 * UPDATES_PER_PERIOD, "ticket_updates_per_minute": UPDATES_PER_PERIOD}
        limiter = RedisRateLimiter(connection, TENANT, budgets_from_config(rate_limit, period=PERIOD), max_wait=1.0)
        client = FreshdeskConnector().client(tenant.settings(), Services(limiter=limiter))
        runtime = Runtime(Config(tenants={TENANT: tenant}), connection, desk_clients={TENANT: client})
        install(runtime)
        pipe = FreshdeskPipeline(desk, runtime, create_app(runtime).test_client(), connection)
        carol = desk.add_contact("Carol Diaz", "carol@globex.example")
        tickets = [
            int(desk.create_ticket(f"Invoice {n}", "There is a billing error on it.", carol)["id"])
            for n in range(TICKETS)
        ]
        assert set(pipe.deliver_pending()) == {202}
        started = time.monotonic()
        drive(pipe, TICKETS)
        elapsed = time.monotonic() - started
        pipe.deliver_pending()  # echoes of our own notes and replies: read back, never acted on
        drive(pipe, TICKETS)

        assert desk.rate_limited == [], "not a single 429"
        for ticket_id in tickets:
            updates = [write for write in pipe.writes(ticket_id) if write["call"] == "update"]
            assert len(updates) == 1, f"ticket {ticket_id}: escalated exactly once"
            assert [c["private"] for c in pipe.ours(ticket_id)] == [False, True], "one reply, one note"
            assert desk.groups[desk.tickets[ticket_id]["group_id"]] == "Finance"
        assert runtime.queue.backlog(TENANT) == {"ready": 0, "processing": 0, "dead": 0}
        # The budget set the pace (9 per period at 90 % headroom), not the machine.
        budget = 0.9 * UPDATES_PER_PERIOD
        assert elapsed >= (TICKETS - budget) / budget * PERIOD * 0.9
    finally:
        install(None)
        desk.stop()
        connection.close()


def test_the_fake_freshdesk_refuses_calls_over_its_budget() -> None:
    desk = new_desk()
    desk.enforce_rate_limits(3, 2, period=60)
    desk.start()
    try:
        auth = ("fd-api-key-Yx9Q", "X")
        carol = desk.add_contact("Carol Diaz", "carol@globex.example")
        ticket = desk.create_ticket("Invoice", "billing error", carol)["id"]
        url = f"{desk.base_url}/api/v2/tickets/{ticket}"
        answers = [requests.put(url, json={"priority": 2}, auth=auth, timeout=5) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 429]
        assert int(answers[2].headers["Retry-After"]) >= 1
        assert answers[0].headers["X-RateLimit-Total"] == "3"
        assert desk.rate_limited == [("PUT", f"/api/v2/tickets/{ticket}")]
        assert FRESHDESK_TICKET_UPDATE.fullmatch(f"PUT /api/v2/tickets/{ticket}")
        assert not FRESHDESK_TICKET_UPDATE.fullmatch(f"POST /api/v2/tickets/{ticket}/notes")
    finally:
        desk.stop()
