"""The batched hot path on real Redis: what an event costs in Redis round trips, and that batching never mixes
one ticket's fate with another's (a failure, a stop request, a burst of timers).

Round trips are counted at the client's socket (every `send` of a request or a pipeline is one), with a
redis-py connection class that counts them: what a worker waits for, as opposed to the work Redis does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from typing import Any

import pytest
import redis
from rq import SimpleWorker

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.batches import FLUSH_SECONDS, _as_decided, work_batch
from escalator.plugin.clock import fire
from escalator.plugin.config import Config
from escalator.plugin.finishing import Finish
from escalator.plugin.jobs import failed, quiet
from escalator.plugin.queue import EventQueue
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install
from escalator.plugin.timers import FiredTimer
from escalator.rules.model import TicketEvent
from escalator.rules.state import Escalation, TicketState
from tests.support import TENANT, Pipeline, pipeline, tenant_config
from tests.support_vendors import SEED


class CountingConnection(redis.Connection):
    """Counts requests sent (a pipeline is one): round trips."""

    sent = 0
    lock = threading.Lock()

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        with CountingConnection.lock:
            CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def round_trips() -> int:
    return CountingConnection.sent


@pytest.fixture
def counted(redis_url: str, desk: FakeZendesk) -> Iterator[Pipeline]:
    """A pipeline whose runtime's Redis client counts its round trips."""
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    connection = redis.Redis(connection_pool=pool)
    runtime = Runtime(Config(tenants={TENANT: tenant_config(desk.base_url)}), connection)
    install(runtime)
    try:
        yield Pipeline(desk, runtime, create_app(runtime).test_client(), connection)
    finally:
        install(None)
        connection.close()


def how_to_tickets(pipe: Pipeline, count: int) -> list[int]:
    bob = pipe.desk.add_user("Bob Stone", "bob@globex.example")
    return [int(pipe.desk.create_ticket(f"Question {n}", "How do I export?", bob)["id"]) for n in range(count)]


def drain_rq(pipe: Pipeline, redis_url: str) -> None:
    """RQ's own worker on its own (uncounted) connection: the drain job's Redis calls go through the
    runtime's counted client, RQ's bookkeeping does not."""
    SimpleWorker([QUEUE_NAME], connection=redis.Redis.from_url(redis_url)).work(burst=True, with_scheduler=False)


def test_a_webhook_costs_the_receiver_one_round_trip(counted: Pipeline) -> None:
    how_to_tickets(counted, 10)
    payloads = counted.desk.pending_webhooks()
    # The first webhooks start the drains (RQ jobs, RQ's own round trips) and load the script.
    statuses = [counted.post(payload).status_code for payload in payloads[1:]]
    before = round_trips()
    assert counted.post(payloads[0]).status_code == 202
    assert round_trips() - before == 1, "verified, parsed, then deduplicated, queued and counted in one script"
    before = round_trips()
    assert counted.post(payloads[0]).status_code == 200
    assert round_trips() - before == 1, "a repeat delivery: one round trip, nothing queued"
    assert statuses == [202] * 9


def test_events_that_match_nothing_cost_a_worker_a_share_of_two_round_trips(counted: Pipeline, redis_url: str) -> None:
    how_to_tickets(counted, 3)
    counted.deliver_pending()
    drain_rq(counted, redis_url)  # warm: scripts loaded, the help desk's user and groups read and cached
    tickets = how_to_tickets(counted, 100)
    assert set(counted.deliver_pending()) == {202}
    before = round_trips()
    drain_rq(counted, redis_url)
    spent = round_trips() - before
    assert quiet(counted.runtime, TENANT)
    assert counted.desk.writes == [], "no vendor write"
    assert [path for method, path in counted.desk.requests if "/tickets/" in path] == [], "and no read either"
    # Two drains share 100 tickets in batches of up to 32: each takes its slot, 4-5 claims and finishes between
    # them, then an empty claim and the token's release each.
    assert spent <= 16, f"{spent} round trips for 100 events"
    states = [json.loads(counted.redis.get(keys.state(TENANT, str(ticket))) or "{}") for ticket in tickets]
    assert all(state["tier"] == "L1" for state in states)
    assert counted.redis.hget(keys.metrics(TENANT), "events") == b"103", "the batch's counters summed, none lost"


def test_an_escalation_costs_one_round_trip_per_vendor_write_plus_one(counted: Pipeline, redis_url: str) -> None:
    jane = counted.desk.add_user("Jane Doe", "jane@globex.example")
    counted.desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)
    counted.deliver_pending()
    drain_rq(counted, redis_url)  # warm, as above
    counted.desk._outbox.clear()  # the echoes of those writes: not this test's business
    ticket = int(counted.desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)["id"])
    counted.deliver_pending()
    before = round_trips()
    drain_rq(counted, redis_url)
    spent = round_trips() - before
    assert len(counted.writes(ticket)) == 2
    # the drain's slot, claim, plan + "sending" marks, a rate-limit slot per PUT, finish; then an empty claim and
    # the token's release
    assert spent == 8, spent
    ledger = counted.redis.hgetall(keys.ledger(TENANT, str(ticket)))
    assert set(ledger.values()) == {b"sent"} and len(ledger) == 2, "both comments recorded sent by the finish"
    assert not counted.redis.exists(keys.outbox(TENANT, str(ticket)))


def test_one_tickets_failure_leaves_the_rest_of_its_batch_alone(pipe: Pipeline) -> None:
    jane = pipe.desk.add_user("Jane Doe", "jane@globex.example")
    doomed = int(pipe.desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)["id"])
    quiet_ones = how_to_tickets(pipe, 5)
    fine = int(pipe.desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)["id"])
    pipe.desk.fail(rf"^PUT /api/v2/tickets/{doomed}\.json$", 422, times=100)
    pipe.deliver_pending()
    pipe.work()
    assert len(pipe.writes(fine)) == 2 and pipe.writes(doomed) == []
    for ticket in [fine, *quiet_ones]:
        assert pipe.redis.llen(keys.inbox(TENANT, str(ticket))) == 0, "decided and recorded"
    assert pipe.redis.llen(keys.inbox(TENANT, str(doomed))) == 1, "kept for its retry"
    assert pipe.redis.hget(keys.attempts(TENANT), str(doomed)) == b"1"
    assert pipe.redis.zscore(keys.ready(TENANT), str(doomed)) is not None, "deferred, not lost"


def test_a_stop_request_hands_the_undecided_tickets_of_a_batch_back(pipe: Pipeline) -> None:
    tickets = how_to_tickets(pipe, 6)
    pipe.deliver_pending()
    claimed = pipe.runtime.queue.claim_batch(TENANT, "", 32)
    assert len(claimed) == 6
    pipe.runtime.stopping.set()
    try:
        work_batch(pipe.runtime, pipe.runtime.context(TENANT), claimed, failed)
    finally:
        pipe.runtime.stopping.clear()
    assert pipe.redis.zcard(keys.processing(TENANT)) == 0, "no lease kept"
    assert pipe.redis.zcard(keys.ready(TENANT)) == 6, "every ticket ready again, at once"
    assert all(pipe.redis.llen(keys.inbox(TENANT, str(ticket))) == 1 for ticket in tickets)
    assert not pipe.redis.exists(keys.state(TENANT, str(tickets[0]))), "nothing decided"


def test_a_burst_of_fired_timers_is_queued_in_one_round_trip_per_tenant(counted: Pipeline) -> None:
    fired = [FiredTimer(f"{TENANT}:{n}:sla:first_response", 1_700_000_000.0 + n) for n in range(500)]
    fire(counted.runtime, fired[:1], clock=lambda: 1_700_000_600.0)  # loads the script, starts a drain
    counted.runtime.wake(TENANT)  # and the second: no new drain job below
    before = round_trips()
    fire(counted.runtime, fired, clock=lambda: 1_700_000_600.0)
    assert round_trips() - before == 1, "queued and counted in one step"
    assert counted.redis.zcard(keys.ready(TENANT)) == 500
    assert counted.redis.hget(keys.metrics(TENANT), "timer_lateness_seconds:count") == b"501"
    fire(counted.runtime, fired[:10], clock=lambda: 1_700_000_600.0)
    assert sum(counted.redis.llen(keys.inbox(TENANT, str(n))) for n in range(10)) == 10, "a re-fire is a repeat"


def test_the_state_is_stored_as_dataclasses_asdict_would_store_it() -> None:
    """TicketState.to_dict is built by hand for speed (rules.state): it must equal asdict, and be a copy."""
    from dataclasses import asdict

    state = TicketState(
        tier="L2",
        groups=["Tier 1", "Tier 2"],
        escalations=[Escalation("2026-03-02T14:00:00Z", "L1", "L2", "outage", matched="outage")],
        clocks={"first_response": {"unit": "L2", "pauses": [[1, 2]]}},
        sla_log=[{"metric": "first_response", "outcome": "met"}],
        anchors={"created": "2026-03-02T14:00:00Z"},
    )
    data = state.to_dict()
    assert data == asdict(state) and list(data) == list(asdict(state))
    data["clocks"]["first_response"]["pauses"][0].append(3)
    data["escalations"][0]["target"] = "L3"
    assert state.clocks["first_response"]["pauses"] == [[1, 2]] and state.escalations[0].target == "L2"
    assert TicketState.from_dict(json.loads(json.dumps(asdict(state)))) == state


def test_a_batch_never_ends_while_a_ticket_is_still_being_written() -> None:
    """Should recording fail mid-batch (Redis gone), the drain must not hand its leases over while a decider
    still writes to the help desk: another worker would take the ticket and could send its reply again."""
    ended: list[str] = []

    def work(item: Any) -> str:
        if item == "slow":
            time.sleep(0.6)  # a write-back waiting on the help desk
        ended.append(item)
        return str(item)

    with pytest.raises(redis.ConnectionError), closing(_as_decided(work, ["slow", "quick"])) as results:  # type: ignore[arg-type]
        for result in results:
            if result == "quick":
                raise redis.ConnectionError("recording failed: Redis went away")
    assert sorted(ended) == ["quick", "slow"], "the slow write-back had ended before the error left the batch"


def test_finished_tickets_are_recorded_while_a_slow_write_back_still_waits() -> None:
    """FLUSH_SECONDS pass without a result: the caller is told (None), so quick decisions are recorded (and their
    tickets freed) without waiting for the slowest ticket of the batch."""
    results: list[str | None] = []
    started = time.monotonic()
    seen_at: dict[str, float] = {}

    def work(item: Any) -> str:
        time.sleep(1.2 if item == "slow" else 0.0)
        return str(item)

    with closing(_as_decided(work, ["slow", "quick"])) as decided:  # type: ignore[arg-type]
        for result in decided:
            results.append(result)
            if result is not None:
                seen_at[result] = time.monotonic() - started
    assert results[0] == "quick" and results[-1] == "slow"
    assert results.count(None) >= 2, f"ticks while the slow one waited: {results}"
    assert seen_at["quick"] < FLUSH_SECONDS


def test_a_drain_does_not_spin_on_tickets_another_drain_holds(pipe: Pipeline) -> None:
    tickets = how_to_tickets(pipe, 3)
    pipe.deliver_pending()
    queue = pipe.runtime.queue
    held = queue.claim_batch(TENANT, "", 32)  # drain A holds all three
    assert len(held) == 3
    again = replace(TicketEvent.from_json(held[0].raw[0]), delivery_id="another-delivery")
    assert queue.offer(TENANT, again).accepted  # and a new event arrives for one of them
    assert pipe.redis.zscore(keys.ready(TENANT), str(tickets[0])) is not None, "due, but held by A"
    pipe.redis.delete(keys.drainers(TENANT))  # the drains the webhooks started never ran here
    token = queue.acquire_drainer(TENANT, keep=True)
    assert token is not None and queue.claim_batch(TENANT, token, 32) == [], "drain B finds nothing to claim"
    assert queue.release_drainer(TENANT, token) is False, "so it ends instead of claiming nothing in a loop"
    queue.defer_many(TENANT, [str(tickets[1])])  # a ticket nobody holds is due again
    token = queue.acquire_drainer(TENANT, keep=True)
    assert token is not None and queue.release_drainer(TENANT, token) is True


def test_a_key_of_the_wrong_type_fails_one_ticket_and_records_the_others_once(pipe: Pipeline) -> None:
    tickets = how_to_tickets(pipe, 3)
    pipe.deliver_pending()
    broken = str(tickets[1])
    pipe.redis.set(keys.journal(TENANT, broken), "someone wrote a string here")
    pipe.redis.set(keys.metrics(TENANT), "and a string where the counters hash belongs")
    claimed = pipe.runtime.queue.claim_batch(TENANT, "", 32)
    work_batch(pipe.runtime, pipe.runtime.context(TENANT), claimed, failed)
    for ticket in (tickets[0], tickets[2]):
        assert pipe.redis.llen(keys.inbox(TENANT, str(ticket))) == 0, "recorded"
        assert pipe.redis.exists(keys.state(TENANT, str(ticket)))
    assert pipe.redis.llen(keys.inbox(TENANT, broken)) == 1, "its event kept for the retry"
    assert not pipe.redis.exists(keys.state(TENANT, broken)), "nothing of its part written"
    assert pipe.redis.hget(keys.attempts(TENANT), broken) == b"1"
    assert pipe.redis.zcard(keys.processing(TENANT)) == 0, "no lease left behind"


def test_a_drain_that_meets_an_unexpected_error_hands_its_tickets_back_at_once(
    redis_url: str, desk: FakeZendesk
) -> None:
    for pipe in pipeline(redis_url, desk, rules_path=SEED):  # the shipped policy reads the history facts
        globex = pipe.desk.add_organization("Globex", [])
        bob = pipe.desk.add_user("Bob Stone", "bob@globex.example", organization_id=globex)
        tickets = [int(pipe.desk.create_ticket(f"Question {n}", "How do I export?", bob)["id"]) for n in range(2)]
        pipe.deliver_pending()
        pipe.redis.set(keys.history(TENANT, "organization", str(globex)), "not a sorted set")
        pipe.work()  # the drain job fails (RQ records it) instead of keeping the tickets leased
        assert pipe.redis.zcard(keys.processing(TENANT)) == 0, "no lease kept, none renewed for ever"
        assert {int(t) for t in pipe.redis.zrange(keys.ready(TENANT), 0, -1)} == set(tickets), "ready again"
        assert pipe.runtime.queue.leases.give_back(TENANT) == 0, "nothing left held in the process either"


def test_a_drain_whose_token_waited_past_its_slot_runs_only_if_a_slot_is_free(pipe: Pipeline) -> None:
    queue, drainers = pipe.runtime.queue, keys.drainers(TENANT)
    late = queue.acquire_drainer(TENANT, keep=True)
    assert late is not None
    pipe.redis.zadd(drainers, {late: time.time() - 1})  # it waited in a busy queue longer than its lease
    others = [queue.acquire_drainer(TENANT, keep=True) for _ in range(2)]
    assert None not in others, "its slot was given to another drain meanwhile"
    assert queue.hold_drainer(TENANT, late) is False, "max_drainers already run: it does not add a third"
    assert pipe.redis.zscore(drainers, late) is None
    assert queue.release_drainer(TENANT, str(others[0])) is False
    assert queue.hold_drainer(TENANT, late) is True, "a slot is free again: it takes it"
    assert (pipe.redis.zscore(drainers, late) or 0) > time.time()


def test_a_worker_whose_lease_ran_out_leaves_the_new_holders_ticket_alone(pipe: Pipeline) -> None:
    """Redis unreachable past the lease: the sweeper gives the ticket to another worker. When the first worker's
    finish finally runs, it must neither drop the events the new holder is deciding nor end its lease."""
    (ticket,) = how_to_tickets(pipe, 1)
    pipe.deliver_pending()
    ticket_id, first = str(ticket), pipe.runtime.queue
    (claimed,) = first.claim_batch(TENANT, "", 32)
    pipe.redis.zadd(keys.processing(TENANT), {ticket_id: time.time() - 1})  # the lease ran out meanwhile
    assert first.reclaim(TENANT) == 1
    second = EventQueue(pipe.redis)  # another worker process
    (taken,) = second.claim_batch(TENANT, "", 32)
    again = replace(TicketEvent.from_json(claimed.raw[0]), delivery_id="a-later-delivery")
    assert first.offer(TENANT, again).accepted  # a new event while the second worker decides
    first.finish(TENANT, ticket_id, 1, Finish(state_json='{"tier": "L1"}', sent=["reply:1"]))
    first.defer_many(TENANT, [ticket_id])
    assert pipe.redis.llen(keys.inbox(TENANT, ticket_id)) == 2, "nothing trimmed under the new holder"
    assert pipe.redis.zscore(keys.processing(TENANT), ticket_id) is not None, "its lease kept"
    assert pipe.redis.hget(keys.owners(TENANT), ticket_id) == second.owner.encode()
    assert not pipe.redis.exists(keys.state(TENANT, ticket_id)), "the stale decision was not saved over it"
    assert pipe.redis.hget(keys.ledger(TENANT, ticket_id), "reply:1") == b"sent", "what went out is recorded"
    second.finish(TENANT, ticket_id, len(taken.raw))
    assert pipe.redis.llen(keys.inbox(TENANT, ticket_id)) == 1, "the new holder trims only what it decided"
    assert pipe.redis.zscore(keys.ready(TENANT), ticket_id) is not None, "and the later event is due at once"
    assert pipe.redis.zscore(keys.processing(TENANT), ticket_id) is None
