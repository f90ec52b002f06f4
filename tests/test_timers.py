"""Timer engine: durable, precise, at-least-once, never early, never double-fired."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fakeredis
import pytest
import redis

from escalator.plugin.timers import FiredTimer, TimerLoop, TimerStore


class Recorder:
    """An on_fire handler that records each timer with the wall time it was handed over."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fired: list[tuple[FiredTimer, float]] = []
        self.event = threading.Event()
        self.expect = math.inf

    def __call__(self, timers: list[FiredTimer]) -> None:
        at = time.time()
        with self.lock:
            self.fired.extend((timer, at) for timer in timers)
            if len(self.fired) >= self.expect:
                self.event.set()

    def keys(self) -> list[str]:
        with self.lock:
            return [timer.key for timer, _ in self.fired]

    def wait_for(self, n: int, timeout: float) -> bool:
        with self.lock:
            self.expect = n
            if len(self.fired) >= n:
                return True
        return self.event.wait(timeout)


@contextmanager
def running(loop: TimerLoop) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_arm_reschedule_cancel(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    assert store.next_due() is None and store.count() == 0

    store.arm("acme:1:sla:first_response", 2000.5)
    store.arm("acme:2:sla:first_response", 1000.25)
    assert store.count() == 2
    assert store.due_of("acme:1:sla:first_response") == 2000.5
    assert store.next_due() == 1000.25

    store.arm("acme:1:sla:first_response", 500.125)  # reschedule is a move, not a second timer
    assert store.count() == 2
    assert store.due_of("acme:1:sla:first_response") == 500.125
    assert store.next_due() == 500.125

    assert store.cancel("acme:1:sla:first_response") is True
    assert store.cancel("acme:1:sla:first_response") is False
    assert store.due_of("acme:1:sla:first_response") is None
    assert store.next_due() == 1000.25

    store.arm_many((f"acme:{i}:idle", 3000.0 + i / 1000) for i in range(2500))
    assert store.count() == 2501
    assert store.due_of("acme:2499:idle") == pytest.approx(3002.499, abs=1e-9)
    assert redis_client.exists("esc:timers:pending") == 1

    with pytest.raises(ValueError):
        store.arm("acme:bad", math.nan)
    with pytest.raises(ValueError):
        store.arm("acme:bad", math.inf)


def test_due_keeps_sub_millisecond_precision(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    due = 1_767_225_600.1234567
    store.arm("t", due)
    assert store.due_of("t") == due
    assert store.claim_due(due) == [FiredTimer("t", due)]


def test_claim_only_due_and_never_early(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    base = 1_767_225_600.0
    store.arm_many([("a", base + 0.001), ("b", base + 0.002), ("c", base + 10.0)])

    assert store.claim_due(base) == []
    assert store.claim_due(base + 0.000999) == []  # 1 µs before due
    assert store.claim_due(base + 0.001) == [FiredTimer("a", base + 0.001)]
    # A claimed timer is leased, not pending: a second claimer gets nothing.
    assert store.claim_due(base + 5.0) == [FiredTimer("b", base + 0.002)]
    assert store.claim_due(base + 5.0) == []
    assert store.count() == 1 and store.inflight_count() == 2


def test_claim_respects_limit_and_order(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    store.arm_many((f"t{i}", 100.0 + i) for i in range(10))
    first = store.claim_due(1000.0, limit=4)
    assert [t.key for t in first] == ["t0", "t1", "t2", "t3"]
    rest = store.claim_due(1000.0, limit=100)
    assert [t.key for t in rest] == [f"t{i}" for i in range(4, 10)]


def test_arm_publishes_a_wake_only_for_a_new_earliest(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    pubsub = store.subscribe_wake()
    try:
        store.arm("far", 5000.0)
        assert pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0) is not None
        store.arm("farther", 6000.0)
        assert pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2) is None
        store.arm("near", 10.0)
        assert pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0) is not None
    finally:
        pubsub.close()


def test_failed_handler_fires_again_after_the_lease(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    calls: list[list[FiredTimer]] = []

    def flaky(timers: list[FiredTimer]) -> None:
        calls.append(timers)
        if len(calls) == 1:
            raise RuntimeError("downstream unavailable")

    loop = TimerLoop(store, flaky, lease_seconds=5.0)
    store.arm("acme:7:sla:next_reply", 100.0)
    assert loop.run_once(now=200.0) == 1  # handed over, raised, not acked
    assert store.inflight_count() == 1
    assert loop.run_once(now=204.9) == 0  # lease still held: no double fire
    assert loop.run_once(now=205.0) == 1  # lease expired: fires again with the original due
    assert calls[1] == [FiredTimer("acme:7:sla:next_reply", 100.0)]
    assert store.inflight_count() == 0 and store.count() == 0
    assert loop.run_once(now=1000.0) == 0


def test_unacked_claim_is_reclaimed_with_original_due(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    store.arm("k", 50.0)
    assert len(store.claim_due(60.0, lease_seconds=30.0)) == 1  # a worker claims, then "crashes"
    assert store.reclaim_expired(89.9) == 0
    assert store.reclaim_expired(90.0) == 1
    assert store.due_of("k") == 50.0
    assert store.claim_due(90.0) == [FiredTimer("k", 50.0)]


def test_stale_ack_does_not_drop_a_newer_firing(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    store.arm("k", 10.0)
    [old] = store.claim_due(20.0, lease_seconds=1.0)
    store.arm("k", 30.0)  # rescheduled while in flight
    [new] = store.claim_due(40.0, lease_seconds=1.0)
    store.ack([old])  # the slow first handler finally acks
    assert store.inflight_count() == 1
    assert store.reclaim_expired(41.0) == 1  # the newer firing is still protected by its lease
    assert store.due_of("k") == 30.0
    store.ack(store.claim_due(50.0))
    assert store.inflight_count() == 0 and store.count() == 0 and new.due == 30.0


def test_rearm_while_in_flight_wins_over_reclaim(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    store.arm("k", 10.0)
    store.claim_due(20.0, lease_seconds=1.0)
    store.arm("k", 500.0)
    assert store.reclaim_expired(25.0) == 1
    assert store.due_of("k") == 500.0


def test_cancel_in_flight_prevents_a_refire(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    store.arm("k", 10.0)
    store.claim_due(20.0, lease_seconds=1.0)
    assert store.cancel("k") is True
    assert store.reclaim_expired(100.0) == 0
    assert store.claim_due(100.0) == []


def test_two_loops_fire_each_timer_exactly_once(redis_url: str) -> None:
    clients = [redis.Redis.from_url(redis_url) for _ in range(3)]
    store = TimerStore(clients[0])
    recorder = Recorder()
    loops = [TimerLoop(TimerStore(c), recorder, batch_size=50) for c in clients[1:]]
    n = 3000
    now = time.time()
    store.arm_many((f"acme:{i}:sla:resolution", now + 0.3 + (i % 700) / 1000) for i in range(n))
    with running(loops[0]), running(loops[1]):
        assert recorder.wait_for(n, timeout=30)
        time.sleep(0.3)  # give a double fire the chance to show up
    counts = Counter(recorder.keys())
    assert len(counts) == n
    assert max(counts.values()) == 1
    assert store.count() == 0 and store.inflight_count() == 0
    for timer, at in recorder.fired:
        assert at >= timer.due
    for c in clients:
        c.close()


def test_crashed_handler_in_running_loop_fires_again(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    recorder = Recorder()
    attempts: list[float] = []

    def crash_first(timers: list[FiredTimer]) -> None:
        attempts.append(time.time())
        if len(attempts) == 1:
            raise RuntimeError("worker died before handing on")
        recorder(timers)

    due = time.time() + 0.1
    store.arm("acme:9:sla:first_response", due)
    with running(TimerLoop(store, crash_first, lease_seconds=0.5)):
        assert recorder.wait_for(1, timeout=5)
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.45
    assert recorder.fired[0][0] == FiredTimer("acme:9:sla:first_response", due)
    assert store.inflight_count() == 0


def test_timers_survive_a_redis_restart(redis_server: Any, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    store = TimerStore(client)
    now = time.time()
    store.arm_many([("acme:1:sla:first_response", now + 1.5), ("acme:2:idle", now - 5.0)])
    store.arm("acme:3:far", now + 86_400)
    store.claim_due(now - 1.0, lease_seconds=0.5)  # acme:2 in flight, its worker "crashes"

    redis_server.restart()

    assert store.count() == 2
    assert store.inflight_count() == 1
    assert store.due_of("acme:1:sla:first_response") == now + 1.5
    recorder = Recorder()
    with running(TimerLoop(store, recorder)):
        assert recorder.wait_for(2, timeout=10)
    fired = {timer.key: (timer.due, at) for timer, at in recorder.fired}
    assert set(fired) == {"acme:1:sla:first_response", "acme:2:idle"}
    assert all(at >= due for due, at in fired.values())
    assert store.count() == 1
    client.close()


def test_loop_keeps_running_across_a_redis_restart(redis_server: Any, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    store = TimerStore(client)
    recorder = Recorder()
    with running(TimerLoop(store, recorder, max_sleep=0.2)):
        time.sleep(0.2)
        redis_server.restart()
        due = time.time() + 0.3
        store.arm("acme:4:after_restart", due)
        assert recorder.wait_for(1, timeout=10)
    [(timer, at)] = recorder.fired
    assert timer.key == "acme:4:after_restart" and at >= due
    client.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def test_lateness_never_early_and_small(redis_client: redis.Redis) -> None:
    store = TimerStore(redis_client)
    store.arm_many((f"far:{i}", time.time() + 3600 + i) for i in range(1000))
    recorder = Recorder()
    with running(TimerLoop(store, recorder)):
        time.sleep(0.05)
        start = time.time() + 1.0
        store.arm_many((f"acme:{i}:sla", start + i * 0.005) for i in range(200))  # over 1 s, from 1 s out
        assert recorder.wait_for(200, timeout=15)
    late = [at - timer.due for timer, at in recorder.fired]
    assert min(late) >= 0, "a timer fired early"
    assert _percentile(late, 0.99) < 0.1


def test_sleeping_loop_is_woken_by_an_earlier_timer(redis_url: str) -> None:
    armer = TimerStore(redis.Redis.from_url(redis_url))  # a different connection, as from another process
    store = TimerStore(redis.Redis.from_url(redis_url))
    store.arm("acme:far", time.time() + 3600)
    recorder = Recorder()
    with running(TimerLoop(store, recorder, max_sleep=30.0)):
        time.sleep(0.3)  # the loop is now asleep on the far deadline
        due = time.time() + 0.2
        armer.arm("acme:near", due)
        assert recorder.wait_for(1, timeout=5)
    [(timer, at)] = recorder.fired
    assert timer.key == "acme:near"
    assert 0 <= at - due < 0.25  # promptly: the loop would otherwise sleep 30 s


def test_loop_stops_promptly(redis_client: redis.Redis) -> None:
    loop = TimerLoop(TimerStore(redis_client), Recorder(), max_sleep=0.2)
    started = time.monotonic()
    with running(loop) as stop:
        time.sleep(0.1)
        stop.set()
    assert time.monotonic() - started < 1.0


def test_embedded_fakeredis_mode() -> None:
    server = fakeredis.FakeServer()
    store = TimerStore(fakeredis.FakeRedis(server=server))
    armer = TimerStore(fakeredis.FakeRedis(server=server))

    store.arm("a", 100.0)
    store.arm("a", 150.0)
    store.arm_many([("b", 120.0), ("c", 1e12)])
    assert store.claim_due(119.0) == []
    assert store.claim_due(160.0, lease_seconds=10.0) == [FiredTimer("b", 120.0), FiredTimer("a", 150.0)]
    assert store.reclaim_expired(171.0) == 2
    fired = store.claim_due(171.0)
    store.ack(fired)
    assert store.inflight_count() == 0 and store.cancel("c") and store.count() == 0

    recorder = Recorder()
    store.arm("far", time.time() + 3600)
    with running(TimerLoop(store, recorder, max_sleep=30.0)):
        time.sleep(0.2)
        due = time.time() + 0.2
        armer.arm("near", due)  # wakes the sleeping loop through fakeredis pub/sub
        assert recorder.wait_for(1, timeout=5)
    [(timer, at)] = recorder.fired
    assert timer == FiredTimer("near", due) and 0 <= at - due < 0.25


def test_works_with_decoded_responses(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = TimerStore(client)
    store.arm("acme:ü:sla", 10.5)
    assert store.claim_due(11.0) == [FiredTimer("acme:ü:sla", 10.5)]
    store.ack([FiredTimer("acme:ü:sla", 10.5)])
    assert store.inflight_count() == 0
    client.close()
