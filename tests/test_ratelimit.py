"""The shared outbound rate limiter: GCRA buckets in a real (private) Redis, VendorHttp's hook, Zendesk's call
table and headers, the fake's enforced budgets, and the "done when" of issue 4 end to end.

Bucket math runs on an injected clock (nothing sleeps); the sharing and end-to-end tests run in real time on
budgets scaled from a minute down to a second or two, so they take seconds.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import responses

from escalator.connectors.base import Services
from escalator.connectors.errors import RateLimited
from escalator.connectors.http import VendorHttp
from escalator.connectors.ratelimit import (
    EVERY_CALL_A_REQUEST,
    REQUESTS,
    TICKET_UPDATES,
    Admission,
    Observation,
    VendorLimits,
    classify_by,
    header_fields,
    header_number,
)
from escalator.connectors.registry import CONNECTORS
from escalator.connectors.zendesk import TICKET_UPDATE_CALLS, ZENDESK_LIMITS, ZendeskConnector, read_rate_limits
from escalator.connectors.zendesk.api import ZendeskClient
from escalator.fakedesk.base import TokenBucket
from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.config import Config
from escalator.plugin.embedded import ThreadWorker
from escalator.plugin.jobs import sweep
from escalator.plugin.prometheus import VENDOR_RATE_LIMITED
from escalator.plugin.ratelimit import HEADROOM, Budget, RedisRateLimiter, budgets_from_config
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install
from tests.support import SECRET, TENANT, signed_headers, tenant_config

BASE = "https://acme.zendesk.com"
TICKET = f"{BASE}/api/v2/tickets/4211.json"
TICKET_BODY = {"ticket": {"id": 4211, "status": "open", "updated_at": "2025-03-03T10:21:02Z"}}


class Clock:
    """An injected clock: time moves only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def waits() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def vendor() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def limiter(
    client: redis.Redis,
    clock: Clock | None,
    *,
    requests: Budget | None = None,
    updates: Budget | None = None,
    max_wait: float = 10.0,
    tenant: str = TENANT,
) -> RedisRateLimiter:
    budgets = {REQUESTS: requests or Budget(600, 60), TICKET_UPDATES: updates or Budget(60, 60)}
    return RedisRateLimiter(client, tenant, budgets, max_wait=max_wait, clock=clock)


def zendesk_http(limiter: RedisRateLimiter, sleep: SleepRecorder, base: str = BASE) -> VendorHttp:
    return VendorHttp(base, {"Authorization": "Bearer t"}, sleep=sleep, limiter=limiter, limits=ZENDESK_LIMITS)


# --- budgets from the configuration ----------------------------------------------------------------------


def test_configured_budget_is_spent_with_headroom() -> None:
    budgets = budgets_from_config({"requests_per_minute": 700, "ticket_updates_per_minute": 100})
    assert budgets[REQUESTS] == Budget(limit=630.0, period=60.0, burst=630.0)
    assert budgets[TICKET_UPDATES].capacity == 90.0
    assert budgets[TICKET_UPDATES].interval == pytest.approx(60 / 90)
    assert HEADROOM == 0.9


def test_vendor_defaults_give_every_bucket_a_budget() -> None:
    for vendor, connector in CONNECTORS.items():
        budgets = budgets_from_config(connector.default_rate_limit)
        assert set(budgets) == {REQUESTS, TICKET_UPDATES}, vendor
        assert budgets[TICKET_UPDATES].limit <= budgets[REQUESTS].limit


def test_a_tiny_budget_still_allows_one_call() -> None:
    assert budgets_from_config({"ticket_updates_per_minute": 1})[TICKET_UPDATES].capacity == 1.0


@pytest.mark.parametrize("budget", [{"limit": 0}, {"limit": 5, "period": 0}, {"limit": 5, "burst": 0.5}])
def test_nonsense_budgets_are_refused(budget: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Budget(**budget)


# --- bucket math (injected clock) ------------------------------------------------------------------------


def test_a_full_bucket_admits_a_burst_then_the_steady_rate(redis_client: redis.Redis, clock: Clock) -> None:
    rate = limiter(redis_client, clock, requests=Budget(10, 10), max_wait=0)  # 1 call/s, bursts of 10
    assert [rate.acquire([REQUESTS]) for _ in range(10)] == [Admission(True, 0.0)] * 10
    refused = rate.acquire([REQUESTS])
    assert not refused.admitted and refused.wait == pytest.approx(1.0)
    clock.advance(0.5)
    assert rate.acquire([REQUESTS]).wait == pytest.approx(0.5), "half a token is not a call"
    for _ in range(5):
        clock.advance(1.0)
        assert rate.acquire([REQUESTS]) == Admission(True, 0.0)
        assert not rate.acquire([REQUESTS]).admitted
    clock.advance(100)
    assert rate.available(REQUESTS) == pytest.approx(10.0), "an idle bucket fills up to its burst, no further"


def test_short_waits_are_reserved_in_order_at_the_budgets_pace(redis_client: redis.Redis, clock: Clock) -> None:
    rate = limiter(redis_client, clock, requests=Budget(2, 1, burst=2), max_wait=2.0)  # 2/s
    answers = [rate.acquire([REQUESTS]) for _ in range(7)]
    assert all(answer.admitted for answer in answers[:6])
    assert [answer.wait for answer in answers[:6]] == pytest.approx([0, 0, 0.5, 1.0, 1.5, 2.0])
    assert answers[6] == Admission(False, pytest.approx(2.5)), "beyond max_wait: refused, not reserved"
    assert rate.acquire([REQUESTS]).wait == pytest.approx(2.5), "the refusal reserved nothing"


def test_a_bucket_key_expires_once_the_bucket_is_full_again(redis_client: redis.Redis) -> None:
    rate = limiter(redis_client, None, requests=Budget(600, 60))  # Redis's own clock
    rate.acquire([REQUESTS])
    key = keys.tenant_key(TENANT, "rate", REQUESTS)
    assert key == f"esc:{{{TENANT}}}:rate:requests"
    ttl = redis_client.pttl(key)
    assert 60_000 < ttl <= 60_200, "full again 0.1 s after one call, plus a minute of spare"


def test_tenants_never_share_a_budget(redis_client: redis.Redis, clock: Clock) -> None:
    acme = limiter(redis_client, clock, requests=Budget(1, 60), max_wait=0)
    globex = limiter(redis_client, clock, requests=Budget(1, 60), max_wait=0, tenant="globex")
    assert acme.acquire([REQUESTS]).admitted and not acme.acquire([REQUESTS]).admitted
    assert globex.acquire([REQUESTS]).admitted


def test_calls_outside_any_budget_are_not_limited(redis_client: redis.Redis, clock: Clock) -> None:
    rate = RedisRateLimiter(redis_client, TENANT, {}, clock=clock)
    assert rate.acquire([REQUESTS, TICKET_UPDATES]) == Admission(True, 0.0)
    rate.observe([Observation(REQUESTS, 0, 30)])
    rate.block([REQUESTS], 30)
    assert redis_client.keys("*") == [keys.metrics(TENANT).encode()], "only the 429 is counted, no budget kept"


# --- two buckets, atomically -----------------------------------------------------------------------------


def test_a_ticket_update_takes_both_buckets_or_neither(redis_client: redis.Redis, clock: Clock) -> None:
    rate = limiter(redis_client, clock, requests=Budget(100, 60), updates=Budget(2, 60), max_wait=0)
    assert rate.acquire([REQUESTS, TICKET_UPDATES]).admitted
    assert rate.acquire([REQUESTS, TICKET_UPDATES]).admitted
    assert rate.available(REQUESTS) == pytest.approx(98)
    refused = rate.acquire([REQUESTS, TICKET_UPDATES])
    assert not refused.admitted and refused.wait == pytest.approx(30.0)
    assert rate.available(REQUESTS) == pytest.approx(98), "the refused update spent nothing"
    assert rate.acquire([REQUESTS]).admitted, "reads and replies still go"


def test_an_empty_request_bucket_refuses_an_update_without_spending_the_update_budget(
    redis_client: redis.Redis, clock: Clock
) -> None:
    rate = limiter(redis_client, clock, requests=Budget(3, 60), updates=Budget(10, 60), max_wait=0)
    for _ in range(3):
        assert rate.acquire([REQUESTS]).admitted
    assert not rate.acquire([REQUESTS, TICKET_UPDATES]).admitted
    assert rate.available(TICKET_UPDATES) == pytest.approx(10)


def test_a_reserved_update_waits_for_the_later_of_its_two_slots(redis_client: redis.Redis, clock: Clock) -> None:
    rate = limiter(redis_client, clock, requests=Budget(60, 60, burst=1), updates=Budget(12, 60, burst=1))
    assert rate.acquire([REQUESTS, TICKET_UPDATES]).wait == 0
    second = rate.acquire([REQUESTS, TICKET_UPDATES])
    assert second.admitted and second.wait == pytest.approx(5.0), "the update bucket's 5 s, not the 1 s"
    assert rate.acquire([REQUESTS]).wait == pytest.approx(6.0), "booked after the update's slot, never before"


# --- shared by workers: separate connections, real time ------------------------------------------------


class RecordingClock:
    """The real clock, remembering per thread the time it last gave (the moment a slot was computed from)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def __call__(self) -> float:
        self.local.now = time.time()
        return float(self.local.now)


def conforms(slots: list[float], budget: Budget) -> bool:
    """True when no stretch of time holds more calls than the burst plus the rate times its length (give or
    take a thousandth of a call: the limiter keeps times to the microsecond)."""
    slots = sorted(slots)
    rate = 1 / budget.interval
    return all(
        j - i + 1 <= budget.capacity + rate * (slots[j] - slots[i]) + 1e-3
        for i in range(len(slots))
        for j in range(i, len(slots))
    )


def test_workers_with_their_own_connections_share_one_budget(redis_url: str) -> None:
    requests_budget, updates_budget = Budget(40, 1.0, burst=6), Budget(15, 1.0, burst=3)
    clock = RecordingClock()
    slots: dict[str, list[float]] = {"requests": [], "updates": []}
    lock = threading.Lock()
    duration = 1.2

    def worker(kind: str) -> None:
        connection = redis.Redis.from_url(redis_url)
        rate = RedisRateLimiter(
            connection, TENANT, {REQUESTS: requests_budget, TICKET_UPDATES: updates_budget}, max_wait=0.5, clock=clock
        )
        buckets = [REQUESTS, TICKET_UPDATES] if kind == "updates" else [REQUESTS]
        stop = time.time() + duration
        while time.time() < stop:
            answer = rate.acquire(buckets)
            if answer.admitted:
                with lock:
                    slots[kind].append(clock.local.now + answer.wait)
            time.sleep(answer.wait)
        connection.close()

    threads = [threading.Thread(target=worker, args=(kind,)) for kind in ("updates", "updates", "requests", "requests")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every_call = slots["requests"] + slots["updates"]
    assert conforms(every_call, requests_budget), "the account budget held in every window"
    assert conforms(slots["updates"], updates_budget), "the ticket-update budget held in every window"
    # ... and was used, not wasted: each bucket served about its burst plus its rate for the run.
    assert len(slots["updates"]) >= 3 + 15 * duration * 0.8
    assert len(every_call) >= 6 + 40 * duration * 0.8


# --- VendorHttp: waiting, deferring, adapting, backing off -----------------------------------------------


def test_a_short_wait_is_slept_in_the_worker(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.get(TICKET, json=TICKET_BODY)
    http = zendesk_http(limiter(redis_client, clock, requests=Budget(30, 60, burst=1)), waits)
    http.request("GET", "/api/v2/tickets/4211.json")
    http.request("GET", "/api/v2/tickets/4211.json")
    assert waits.waits == [pytest.approx(2.0)] and len(vendor.calls) == 2


def test_a_long_wait_defers_the_call_and_sends_nothing(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.put(TICKET, json=TICKET_BODY)
    rate = limiter(redis_client, clock, updates=Budget(2, 60, burst=1), max_wait=10)
    http = zendesk_http(rate, waits)
    http.request("PUT", "/api/v2/tickets/4211.json", json={"ticket": {}}, idempotent=False)
    with pytest.raises(RateLimited) as caught:
        http.request("PUT", "/api/v2/tickets/4211.json", json={"ticket": {}}, idempotent=False)
    assert caught.value.retry_after == pytest.approx(30.0) and caught.value.maybe_applied is False
    assert "ticket_updates" in str(caught.value)
    assert len(vendor.calls) == 1 and waits.waits == []
    clock.advance(30)
    http.request("PUT", "/api/v2/tickets/4211.json", json={"ticket": {}}, idempotent=False)
    assert len(vendor.calls) == 2


def test_remaining_budget_in_headers_adapts_the_bucket_down(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    rate = limiter(redis_client, clock, requests=Budget(600, 60), max_wait=0)
    http = zendesk_http(rate, waits)
    vendor.get(TICKET, json=TICKET_BODY, headers={"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "3"})
    http.request("GET", TICKET)
    assert rate.available(REQUESTS) == pytest.approx(3), "another integration spent the rest of the minute"
    vendor.replace(responses.GET, TICKET, json=TICKET_BODY)
    for _ in range(3):
        http.request("GET", TICKET)
    with pytest.raises(RateLimited):
        http.request("GET", TICKET)
    assert len(vendor.calls) == 4


def test_headers_never_raise_the_bucket_above_what_we_believe(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    rate = limiter(redis_client, clock, requests=Budget(10, 60), max_wait=0)
    http = zendesk_http(rate, waits)
    vendor.get(TICKET, json=TICKET_BODY, headers={"X-Rate-Limit-Remaining": "699"})
    for _ in range(4):
        http.request("GET", TICKET)
    assert rate.available(REQUESTS) == pytest.approx(6)


def test_an_exhausted_update_budget_waits_for_the_vendors_reset(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    rate = limiter(redis_client, clock, max_wait=10)
    http = zendesk_http(rate, waits)
    headers = {"X-Rate-Limit-Remaining": "650", "Zendesk-RateLimit-tickets-update": "total=100; remaining=0; resets=41"}
    vendor.put(TICKET, json=TICKET_BODY, headers=headers)
    vendor.get(TICKET, json=TICKET_BODY)
    http.request("PUT", TICKET, json={"ticket": {}}, idempotent=False)
    with pytest.raises(RateLimited) as caught:
        http.request("PUT", TICKET, json={"ticket": {}}, idempotent=False)
    assert caught.value.retry_after == pytest.approx(41.0)
    http.request("GET", TICKET)  # reads are not ticket updates
    assert [call.request.method for call in vendor.calls] == ["PUT", "GET"]


def test_a_429_blocks_the_bucket_for_every_worker(
    redis_url: str, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    first, second = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    worker_a = zendesk_http(limiter(first, clock), waits)
    worker_b = zendesk_http(limiter(second, clock), waits)
    vendor.get(TICKET, status=429, headers={"Retry-After": "30"}, json={"error": "APIRateLimitExceeded"})
    with pytest.raises(RateLimited) as caught:
        worker_a.request("GET", TICKET)
    assert caught.value.retry_after == 30.0
    with pytest.raises(RateLimited) as caught:
        worker_b.request("GET", TICKET)
    assert caught.value.retry_after == pytest.approx(30.0)
    assert len(vendor.calls) == 1, "the other worker backed off without asking the vendor"
    assert first.hget(keys.metrics(TENANT), VENDOR_RATE_LIMITED) == b"1", "the 429 is counted for /metrics"
    clock.advance(30)
    vendor.replace(responses.GET, TICKET, json=TICKET_BODY)
    assert worker_b.request("GET", TICKET) == TICKET_BODY
    first.close()
    second.close()


def test_a_short_429_is_waited_out_once_through_the_shared_bucket(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    vendor.get(TICKET, status=429, headers={"Retry-After": "2"})
    vendor.get(TICKET, json=TICKET_BODY)
    assert zendesk_http(limiter(redis_client, clock), waits).request("GET", TICKET) == TICKET_BODY
    assert waits.waits == [pytest.approx(2.0)], "slept once: the block, not the block and the Retry-After"


def test_a_429_on_an_update_blocks_only_the_budget_that_ran_out(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    rate = limiter(redis_client, clock, max_wait=10)
    http = zendesk_http(rate, waits)
    vendor.put(TICKET, status=429, headers={"Retry-After": "45", "X-Rate-Limit-Remaining": "500"})
    vendor.get(TICKET, json=TICKET_BODY)
    with pytest.raises(RateLimited):
        http.request("PUT", TICKET, json={"ticket": {}}, idempotent=False)
    assert http.request("GET", TICKET) == TICKET_BODY, "the account still had calls left: reads go on"
    assert not rate.acquire([REQUESTS, TICKET_UPDATES]).admitted


def test_without_a_limiter_nothing_changes(vendor: responses.RequestsMock, waits: SleepRecorder) -> None:
    vendor.get(TICKET, json=TICKET_BODY, headers={"X-Rate-Limit-Remaining": "0", "ratelimit-reset": "50"})
    http = VendorHttp(BASE, {}, sleep=waits, limits=ZENDESK_LIMITS)
    for _ in range(3):
        http.request("GET", TICKET)
    assert len(vendor.calls) == 3 and waits.waits == []


def test_a_limiter_without_vendor_knowledge_counts_every_call_as_a_request(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    rate = limiter(redis_client, clock, requests=Budget(10, 60), updates=Budget(1, 60, burst=1), max_wait=0)
    http = VendorHttp(BASE, {}, sleep=waits, limiter=rate)
    assert http.limits is EVERY_CALL_A_REQUEST
    vendor.put(TICKET, json=TICKET_BODY)
    for _ in range(3):
        http.request("PUT", TICKET, json={}, idempotent=False)
    assert rate.available(REQUESTS) == pytest.approx(7) and rate.available(TICKET_UPDATES) == pytest.approx(1)


# --- Zendesk's call table and headers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "buckets"),
    [
        ("PUT", "/api/v2/tickets/4211.json", (REQUESTS, TICKET_UPDATES)),
        ("put", "/api/v2/tickets/4211", (REQUESTS, TICKET_UPDATES)),
        ("PUT", "/api/v2/tickets/update_many.json", (REQUESTS, TICKET_UPDATES)),
        ("GET", "/api/v2/tickets/4211.json", (REQUESTS,)),
        ("POST", "/api/v2/tickets.json", (REQUESTS,)),
        ("PUT", "/api/v2/tickets/4211/tags.json", (REQUESTS,)),
        ("PUT", "/api/v2/users/4211.json", (REQUESTS,)),
        ("GET", "/api/v2/groups.json", (REQUESTS,)),
    ],
)
def test_zendesk_ticket_updates_are_known_by_method_and_path(method: str, path: str, buckets: tuple[str, ...]) -> None:
    assert ZENDESK_LIMITS.classify(method, path) == buckets


def test_absolute_next_page_urls_are_classified_by_their_path(
    redis_client: redis.Redis, clock: Clock, vendor: responses.RequestsMock, waits: SleepRecorder
) -> None:
    rate = limiter(redis_client, clock, updates=Budget(5, 60))
    vendor.put(f"{TICKET}?x=1", json=TICKET_BODY)
    zendesk_http(rate, waits).request("PUT", f"{TICKET}?x=1", json={}, idempotent=False)
    assert rate.available(TICKET_UPDATES) == pytest.approx(4)


def test_zendesk_headers_are_read_for_both_budgets() -> None:
    headers = requests_headers(
        {
            "X-Rate-Limit": "700",
            "X-Rate-Limit-Remaining": "699",
            "ratelimit-reset": "41",
            "Zendesk-RateLimit-tickets-update": "total=100; remaining=99; resets=41",
        }
    )
    assert read_rate_limits(headers) == [
        Observation(REQUESTS, 699, 41),
        Observation(TICKET_UPDATES, 99, 41),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Rate-Limit-Remaining": "lots"},
        {"X-Rate-Limit-Remaining": "-3"},
        {"X-Rate-Limit-Remaining": "nan"},
        {"Zendesk-RateLimit-tickets-update": "total=100"},
        {"Zendesk-RateLimit-tickets-update": "garbage; remaining=; resets=inf"},
    ],
)
def test_odd_zendesk_headers_are_ignored_not_fatal(headers: dict[str, str]) -> None:
    assert read_rate_limits(requests_headers(headers)) == []


def test_header_helpers() -> None:
    assert header_number({"a": "x", "b": "7"}, "a", "b") == 7.0
    assert header_fields("Total=10;remaining = 2 ; resets=5") == {"total": 10, "remaining": 2, "resets": 5}
    assert classify_by([("POST", r"/api/v2/tickets/bulk_update")])("POST", "/api/v2/tickets/bulk_update") == (
        REQUESTS,
        TICKET_UPDATES,
    )
    assert TICKET_UPDATE_CALLS, "the table is public so a reader sees what counts"
    assert VendorLimits(classify=lambda method, path: ()).read({"X-Rate-Limit-Remaining": "1"}) == []


def requests_headers(values: dict[str, str]) -> Any:
    from requests.structures import CaseInsensitiveDict

    return CaseInsensitiveDict(values)


# --- the fake's enforced budgets -------------------------------------------------------------------------


def test_token_bucket_refills_steadily_up_to_its_burst(clock: Clock) -> None:
    bucket = TokenBucket(20, 60.0, clock)
    bucket.take(20)
    assert bucket.remaining() == 0 and bucket.wait() == pytest.approx(3.0) and bucket.resets() == 60
    clock.advance(30)
    assert bucket.remaining() == 10 and bucket.wait() == 0
    clock.advance(1000)
    assert bucket.remaining() == 20


def test_fake_zendesk_enforces_the_update_budget_with_429_and_headers(clock: Clock) -> None:
    import requests

    desk = FakeZendesk()
    desk.enforce_rate_limits(100, 3, clock=clock)
    desk.start()
    try:
        jane = desk.add_user("Jane", "jane@example.com")
        ticket = desk.create_ticket("Hi", "Hello", jane)["id"]
        session = requests.Session()
        session.headers["Authorization"] = "Bearer t"
        url = f"{desk.base_url}/api/v2/tickets/{ticket}.json"
        answers = [session.put(url, json={"ticket": {"priority": "high"}}, timeout=5) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert answers[2].headers["Zendesk-RateLimit-tickets-update"] == "total=3; remaining=0; resets=60"
        assert answers[3].headers["Retry-After"] == "20"
        assert answers[3].headers["X-Rate-Limit-Remaining"] == "97", "the refused update spent nothing"
        assert session.get(url, timeout=5).status_code == 200, "reads are not ticket updates"
        assert desk.rate_limited == [("PUT", f"/api/v2/tickets/{ticket}.json")]
        clock.advance(20)
        assert session.put(url, json={"ticket": {}}, timeout=5).status_code == 200
    finally:
        desk.stop()


# --- the runtime builds one shared limiter per tenant ----------------------------------------------------


def test_runtime_gives_each_tenants_client_the_shared_limiter(redis_url: str) -> None:
    config = Config(tenants={TENANT: tenant_config("http://127.0.0.1:9")})
    one, two = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    client_one, client_two = Runtime(config, one).client(TENANT), Runtime(config, two).client(TENANT)
    assert isinstance(client_one, ZendeskClient) and isinstance(client_two, ZendeskClient)
    rate_one, rate_two = client_one.http.limiter, client_two.http.limiter
    assert isinstance(rate_one, RedisRateLimiter) and isinstance(rate_two, RedisRateLimiter)
    assert rate_one.budgets == budgets_from_config(config.tenants[TENANT].rate_limit)
    assert rate_one.budgets[TICKET_UPDATES].capacity == 90.0
    assert client_one.http.limits is ZENDESK_LIMITS
    assert rate_one.acquire([REQUESTS, TICKET_UPDATES]).admitted
    assert rate_two.available(TICKET_UPDATES) == pytest.approx(89, abs=0.01), "two workers, one budget"
    one.close()
    two.close()


# --- done when: a burst larger than the update budget, end to end, against an enforcing fake -------------

UPDATES_PER_PERIOD = 20
PERIOD = 2.0
"""Zendesk's minute scaled down to 2 s: M = 20 ticket updates per period, bursts of up to 20."""
TICKETS = 30
"""Each escalation is two ticket PUTs (fields + reply, then the note): 60 updates, three times the budget."""


def drive(runtime: Runtime, connection: redis.Redis, expected_writes: int, desk: FakeZendesk) -> None:
    """Two RQ workers in threads, plus the sweeper that wakes deferred tickets, until all writes are in."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [ThreadWorker([QUEUE_NAME], connection=connection) for _ in range(2)]
        threads = [threading.Thread(target=worker.work, kwargs={"burst": True}) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        backlog = runtime.queue.backlog(TENANT)
        if len(desk.writes) >= expected_writes and backlog["ready"] == 0 and backlog["processing"] == 0:
            return
        sweep(runtime)
        time.sleep(0.02)
    raise AssertionError(f"not done in time: {len(desk.writes)} writes, backlog {runtime.queue.backlog(TENANT)}")


@pytest.mark.parametrize(
    "max_wait", [10.0, 0.05], ids=["short-waits-slept-in-the-worker", "every-wait-defers-the-ticket"]
)
def test_a_burst_larger_than_the_update_budget_completes_without_a_429(redis_url: str, max_wait: float) -> None:
    from escalator.plugin.app import create_app

    desk = FakeZendesk(webhook_secret=SECRET, webhook_url="http://unused.invalid/")
    desk.enforce_rate_limits(100 * UPDATES_PER_PERIOD, UPDATES_PER_PERIOD, period=PERIOD)
    desk.start()
    connection = redis.Redis.from_url(redis_url)
    try:
        tenant = tenant_config(desk.base_url)
        rate_limit = {"requests_per_minute": 100 * UPDATES_PER_PERIOD, "ticket_updates_per_minute": UPDATES_PER_PERIOD}
        rate = RedisRateLimiter(connection, TENANT, budgets_from_config(rate_limit, period=PERIOD), max_wait=max_wait)
        client = ZendeskConnector().client(tenant.settings(), Services(limiter=rate))
        runtime = Runtime(Config(tenants={TENANT: tenant}), connection, desk_clients={TENANT: client})
        install(runtime)
        receiver = create_app(runtime).test_client()

        def deliver() -> None:
            for payload in desk.pending_webhooks():
                body = json.dumps(payload).encode()
                status = receiver.post(
                    f"/webhooks/zendesk/{TENANT}", data=body, headers=signed_headers(body)
                ).status_code
                assert status == 202
            desk._outbox.clear()

        jane = desk.add_user("Jane Doe", "jane@globex.example")
        tickets = [
            int(desk.create_ticket(f"Outage #{n}: cannot log in", "Nobody can sign in.", jane)["id"])
            for n in range(TICKETS)
        ]
        deliver()
        started = time.monotonic()
        drive(runtime, connection, 2 * TICKETS, desk)
        elapsed = time.monotonic() - started
        deliver()  # the echoes of our own updates: read back, never acted on
        drive(runtime, connection, 2 * TICKETS, desk)

        assert desk.rate_limited == [], "not a single 429"
        for ticket_id in tickets:
            writes = [write for write in desk.writes if write["ticket_id"] == ticket_id]
            assert len(writes) == 2, f"ticket {ticket_id}: escalated exactly once"
            ours = [comment for comment in desk.comments[ticket_id] if comment["author_id"] == 900]
            assert [comment["public"] for comment in ours] == [True, False], f"ticket {ticket_id}: one reply, one note"
            assert (desk.tickets[ticket_id]["group_id"], desk.tickets[ticket_id]["priority"]) == (102, "urgent")
        assert len(desk.writes) == 2 * TICKETS
        assert runtime.queue.backlog(TENANT) == {"ready": 0, "processing": 0, "dead": 0}
        # The budget, not the machine, set the pace: 18 at once, then 18 per period (90 % of 20).
        budget = 0.9 * UPDATES_PER_PERIOD
        assert elapsed >= (2 * TICKETS - budget) / budget * PERIOD * 0.9
        updates = [at for at, line in desk.admitted if line.startswith("PUT")]
        assert conforms(updates, Budget(UPDATES_PER_PERIOD, PERIOD))
    finally:
        install(None)
        desk.stop()
        connection.close()


def test_another_integration_on_the_account_is_noticed_through_the_headers(redis_client: redis.Redis) -> None:
    """It spends 15 of the 20 updates; our bucket still believes in 18 until Zendesk's headers say 4."""

    def burst(limits: VendorLimits) -> list[tuple[str, str]]:
        desk = FakeZendesk()
        desk.enforce_rate_limits(1000, UPDATES_PER_PERIOD, period=PERIOD)
        desk.start()
        redis_client.flushall()
        try:
            jane = desk.add_user("Jane", "jane@example.com")
            ticket = desk.create_ticket("Hi", "Hello", jane)["id"]
            desk.take_tokens("tickets-update", 15)
            rate = RedisRateLimiter(redis_client, TENANT, budgets_from_config(
                {"ticket_updates_per_minute": UPDATES_PER_PERIOD}, period=PERIOD))  # fmt: skip
            http = VendorHttp(desk.base_url, {"Authorization": "Bearer t"}, limiter=rate, limits=limits)
            for _ in range(10):
                with contextlib.suppress(RateLimited):  # deferred, as a worker would
                    http.request("PUT", f"/api/v2/tickets/{ticket}.json", json={"ticket": {}})
            return desk.rate_limited
        finally:
            desk.stop()

    assert burst(ZENDESK_LIMITS) == [], "adapted down after the first answer: no 429"
    blind = VendorLimits(classify=ZENDESK_LIMITS.classify)  # the same calls, headers unread
    assert burst(blind), "without reading the headers the shared account runs into 429s"
