"""`GET /metrics` through prometheus_client's own parser: every family typed and documented, counters present
from the start, histograms, and the numbers the real pipeline (receiver, RQ worker, timers) recorded.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from rq import SimpleWorker

from escalator import __version__
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.clock import fire
from escalator.plugin.config import Config
from escalator.plugin.connection import connect
from escalator.plugin.prometheus import TIMER_LATENESS, WRITEBACK_LATENCY
from escalator.plugin.runtime import QUEUE_NAME, Runtime
from escalator.plugin.timers import FiredTimer
from tests.conftest import _free_port
from tests.support import TENANT, Pipeline, signed_headers, tenant_config

Families = dict[str, Any]

HISTOGRAMS = {"escalator_writeback_latency_seconds", "escalator_timer_lateness_seconds"}


def scrape(client: FlaskClient) -> Families:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    text = answer.get_data(as_text=True)
    families = list(text_string_to_metric_families(text))
    for family in families:
        assert f"# HELP {_exposed(family)} " in text and f"# TYPE {_exposed(family)} {family.type}" in text
    return {family.name: family for family in families}


def _exposed(family: Any) -> str:
    """The parser drops a counter's `_total`; the text carries it."""
    return family.name + "_total" if family.type == "counter" else family.name


def value(families: Families, name: str, **labels: str) -> float:
    """The one sample of family `name` (or of its `_bucket`/`_count`/... series) with these labels."""
    base = name
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        base = base.removesuffix(suffix)
    family = families[base if base in families else name]
    found = [s for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {found}"
    sample: Sample = found[0]
    return float(sample.value)


def two_tenants(redis_url: str) -> FlaskClient:
    base_url = "http://127.0.0.1:9"
    config = Config(tenants={TENANT: tenant_config(base_url), "globex": tenant_config(base_url, name="globex")})
    return create_app(Runtime(config, redis.Redis.from_url(redis_url))).test_client()


def test_every_family_is_typed_and_every_counter_is_there_from_the_start(redis_url: str) -> None:
    families = scrape(two_tenants(redis_url))
    assert {name for name, family in families.items() if family.type == "histogram"} >= HISTOGRAMS
    for tenant in (TENANT, "globex"):
        for name in ("escalator_events_total", "escalator_escalations_total", "escalator_vendor_rate_limited_total"):
            assert value(families, name, tenant=tenant) == 0
        assert value(families, "escalator_webhooks_total", tenant=tenant, outcome="accepted", status="202") == 0
        for metric in ("first_response", "next_response", "resolution"):
            for outcome in ("met", "breached"):
                assert (
                    value(families, "escalator_sla_outcomes_total", tenant=tenant, metric=metric, outcome=outcome) == 0
                )
        for histogram in HISTOGRAMS:
            assert value(families, f"{histogram}_count", tenant=tenant) == 0
            buckets = [
                s for s in families[histogram].samples if s.name.endswith("_bucket") and s.labels["tenant"] == tenant
            ]
            assert buckets[-1].labels["le"] == "+Inf" and len(buckets) > 5
        assert value(families, "escalator_dead_letters", tenant=tenant) == 0
        assert value(families, "escalator_reconcile_last_success_timestamp_seconds", tenant=tenant) == 0
    assert value(families, "escalator_build_info", version=__version__) == 1
    assert value(families, "escalator_worker_last_heartbeat_timestamp_seconds") == 0
    for family in families.values():
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name.endswith(("_total", "_created")), sample.name


def test_the_pipeline_counts_webhooks_escalations_sla_outcomes_and_write_back_latency(pipe: Pipeline) -> None:
    jane = pipe.desk.add_user("Jane Doe", "jane@globex.example")
    outage = int(pipe.desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)["id"])
    pipe.desk.create_ticket("How do I export?", "Where is the button?", jane)
    pipe.settle()
    pipe.desk.add_comment(outage, "Looking at it now", public=True, author_id=901)  # a human answers in time
    pipe.desk.agent_update(outage, status="solved")
    pipe.settle()
    body = json.dumps({"not": "from zendesk"}).encode()
    assert pipe.post(body, headers={**signed_headers(body), "X-Zendesk-Webhook-Signature": "forged"}).status_code == 401
    accepted = pipe.desk.create_ticket("Another", "question", jane)
    (payload,) = pipe.desk.pending_webhooks()
    assert [pipe.post(payload).status_code for _ in range(2)] == [202, 200], f"ticket {accepted['id']} twice"

    families = scrape(pipe.client)
    webhooks = {
        (s.labels["outcome"], s.labels["status"]): s.value
        for s in families["escalator_webhooks"].samples
        if s.labels["tenant"] == TENANT
    }
    assert webhooks[("refused", "401")] == 1 and webhooks[("duplicate", "200")] == 1
    assert webhooks[("accepted", "202")] == _events(pipe) + 1, "every accepted event was applied but the last"
    assert value(families, "escalator_escalations_total", tenant=TENANT) == 1
    assert value(families, "escalator_sla_outcomes_total", tenant=TENANT, metric="first_response", outcome="met") == 1
    writes = value(families, "escalator_vendor_writes_total", tenant=TENANT)
    latency = value(families, "escalator_writeback_latency_seconds_count", tenant=TENANT)
    assert writes >= 1 and 1 <= latency <= writes
    assert value(families, "escalator_writeback_latency_seconds_bucket", tenant=TENANT, le="+Inf") == latency
    assert value(families, "escalator_backlog_tickets", tenant=TENANT, state="ready") == 1, "the repeat's ticket waits"
    assert value(families, "escalator_timers_armed", tenant=TENANT) == pipe.runtime.timers(TENANT).count() > 0


def _events(pipe: Pipeline) -> int:
    return int(pipe.redis.hget(keys.metrics(TENANT), "events") or 0)


def test_timer_lateness_is_a_histogram_of_how_late_timers_were_handed_over(pipe: Pipeline) -> None:
    now = 1_800_000_000.0
    fired = [FiredTimer(f"{TENANT}:7:idle", now - 0.003), FiredTimer(f"{TENANT}:8:idle", now - 0.3)]
    fire(pipe.runtime, fired, clock=lambda: now)
    families = scrape(pipe.client)
    assert value(families, "escalator_timer_lateness_seconds_count", tenant=TENANT) == 2
    assert value(families, "escalator_timer_lateness_seconds_sum", tenant=TENANT) == pytest.approx(0.303)
    assert value(families, "escalator_timer_lateness_seconds_bucket", tenant=TENANT, le="0.005") == 1
    assert value(families, "escalator_timer_lateness_seconds_bucket", tenant=TENANT, le="0.25") == 1
    assert value(families, "escalator_timer_lateness_seconds_bucket", tenant=TENANT, le="0.5") == 2
    assert pipe.runtime.queue.due_count(TENANT) == 2, "both timers became events"


def test_buckets_put_each_observation_in_one_bucket_and_exposition_adds_them_up() -> None:
    fields = WRITEBACK_LATENCY.observe(0.7)
    assert fields == {"writeback_latency_seconds:le:1": 1, "writeback_latency_seconds:count": 1,
                      "writeback_latency_seconds:sum_ms": 700}  # fmt: skip
    on_time = {
        "timer_lateness_seconds:le:0.005": 1,
        "timer_lateness_seconds:count": 1,
        "timer_lateness_seconds:sum_ms": 0,
    }
    assert TIMER_LATENESS.observe(-2) == on_time, "clock skew counts as on time"
    assert WRITEBACK_LATENCY.observe(7200)["writeback_latency_seconds:le:+Inf"] == 1
    buckets, total = WRITEBACK_LATENCY.cumulative({**fields, "writeback_latency_seconds:le:+Inf": 2,
                                                   "writeback_latency_seconds:sum_ms": 9700})  # fmt: skip
    assert dict(buckets)["0.5"] == 0 and dict(buckets)["1"] == 1 and dict(buckets)["+Inf"] == 3 and total == 9.7


def test_dead_letters_reconciliation_and_workers(pipe: Pipeline) -> None:
    pipe.runtime.queue.bury(TENANT, "77", ['{"kind": "ticket.updated"}'], "boom", attempts=10)
    pipe.redis.hset(keys.checkpoint(TENANT, "reconcile"), "last_pass_at", "2026-03-02T14:00:00Z")
    worker = SimpleWorker([QUEUE_NAME], connection=pipe.redis)
    worker.register_birth()
    worker.heartbeat()
    try:
        families = scrape(pipe.client)
        assert value(families, "escalator_dead_letters", tenant=TENANT) == 1
        assert value(families, "escalator_reconcile_last_success_timestamp_seconds", tenant=TENANT) == 1772460000
        assert sum(s.value for s in families["escalator_workers"].samples) == 1
        assert abs(value(families, "escalator_worker_last_heartbeat_timestamp_seconds") - time.time()) < 60
    finally:
        worker.register_death()
    families = scrape(pipe.client)
    assert sum(s.value for s in families["escalator_workers"].samples) == 0, "a worker that left is not counted"


def test_redis_down_metrics_answers_503_text_and_webhooks_are_still_answered() -> None:
    client = connect(f"redis://127.0.0.1:{_free_port()}/0", "receiver")  # as `escalator serve` connects
    runtime = Runtime(Config(tenants={TENANT: tenant_config("http://127.0.0.1:9")}), client)
    app = create_app(runtime).test_client()
    answer = app.get("/metrics")
    assert answer.status_code == 503 and answer.mimetype == "text/plain" and answer.headers["Retry-After"]
    body = b'{"type": "zen:event-type:ticket.created"}'
    started = time.monotonic()
    refused = app.post(
        f"/webhooks/zendesk/{TENANT}", data=body, headers={**signed_headers(body), "X-Zendesk-Webhook-Signature": "x"}
    )
    assert refused.status_code == 401, "counting the outcome needs Redis; answering does not"
    assert time.monotonic() - started < 2
