"""`GET /metrics`: the deployment's state in the Prometheus text format, from what Redis holds.

The numbers live in Redis, not in this process: workers count as they finish a ticket (the tenant's metrics
hash, written with the ticket's state: plugin.recording.counters), the receiver counts webhook outcomes
(HINCRBY), the timer loop counts its lateness (plugin.clock.fire). Any receiver process can therefore answer
a scrape for the whole deployment, and a restart resets nothing. A scrape is read in one pipeline per tenant
(`read`), then turned into metric families by a custom `prometheus_client` collector (`EscalatorCollector`),
which does no I/O.

Every family has HELP and TYPE; every counter is present from the start (0 for each tenant); names carry
their unit (`_seconds`, `_total`). Histograms are kept as bucket counters in the metrics hash (one field per
bucket, its count, and its sum in milliseconds: HINCRBY takes integers) and exposed cumulative.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from rq import Queue, Worker

from escalator import __version__
from escalator.plugin import keys, roster
from escalator.plugin.connection import is_cluster
from escalator.rules.model import parse_instant
from escalator.rules.policy import SLA_METRICS

PREFIX = "escalator"
SLA_OUTCOMES = ("met", "breached")
WEBHOOK_OUTCOMES = (("accepted", 202), ("duplicate", 200), ("ignored", 200), ("refused", 400), ("refused", 401))
"""Webhook (outcome, status) pairs shown from the start; other statuses (413, 404) appear once counted."""
VENDOR_RATE_LIMITED = "vendor_429"
"""The metrics-hash field counting the help desk's 429 answers."""

COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("events", "events", "Ticket events the workers applied (webhooks, timers, reconciliation)."),
    ("writes", "vendor_writes", "Calls that wrote to the help desk (ticket updates, notes, replies)."),
    ("escalations", "escalations", "Passes that moved a ticket to another tier or team."),
    ("replies", "replies", "Public replies Escalator sent to customers."),
    ("notes", "notes", "Internal notes Escalator wrote."),
    ("dead_letters", "poison_events", "Unreadable events set aside in the dead-letter list at once."),
    (VENDOR_RATE_LIMITED, "vendor_rate_limited", "Calls the help desk answered 429 (rate limited)."),
)
"""(metrics-hash field, family name without prefix and `_total`, HELP): one counter per tenant each."""


def webhook_field(outcome: str, status: int) -> str:
    """The metrics-hash field counting webhooks answered `status` with `outcome`."""
    return f"webhooks:{outcome}:{status}"


def sla_field(metric: str, outcome: str) -> str:
    """The metrics-hash field counting finished SLA clocks (the same name as the KPI aggregates' field)."""
    return f"sla:{metric}:{outcome}"


@dataclass(frozen=True)
class Buckets:
    """A histogram kept as counters in a tenant's metrics hash: `<name>:le:<bound>` per bucket (not
    cumulative: one observation adds 1 to one bucket), `<name>:count`, `<name>:sum_ms`."""

    name: str
    bounds: tuple[float, ...]
    documentation: str

    def observe(self, seconds: float) -> dict[str, int]:
        """The metrics-hash increments one observation adds (a negative one, from clock skew, counts as 0)."""
        seconds = max(0.0, seconds)
        bound = next((bound for bound in self.bounds if seconds <= bound), math.inf)
        return {
            f"{self.name}:le:{_bound_text(bound)}": 1,
            f"{self.name}:count": 1,
            f"{self.name}:sum_ms": round(seconds * 1000),
        }

    def cumulative(self, fields: Mapping[str, int]) -> tuple[list[tuple[str, float]], float]:
        """(le, cumulative count) for every bound and +Inf, and the sum in seconds, from the hash's fields."""
        running, buckets = 0.0, []
        for bound in (*self.bounds, math.inf):
            text = _bound_text(bound)
            running += fields.get(f"{self.name}:le:{text}", 0)
            buckets.append((text, running))
        return buckets, fields.get(f"{self.name}:sum_ms", 0) / 1000


def _bound_text(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


WRITEBACK_LATENCY = Buckets(
    "writeback_latency_seconds",
    (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
    "From the help desk's event (its own time) to Escalator's write-back landing, for passes that wrote.",
)
TIMER_LATENESS = Buckets(
    "timer_lateness_seconds",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0),
    "How long after its due instant a timer (SLA warning or breach, idle window) was handed to the queue.",
)
HISTOGRAMS = (WRITEBACK_LATENCY, TIMER_LATENESS)


# --- reading Redis ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantReading:
    counters: dict[str, int]
    """The tenant's metrics hash."""
    ready: int
    processing: int
    dead: int
    timers: int
    reconcile_last: float | None
    """When the last reconciliation pass finished (epoch seconds), None if none ever did."""
    reconcile_every: float | None
    """The configured interval (seconds), None when reconciliation is off for the tenant."""


@dataclass(frozen=True)
class WorkerReading:
    state: str
    last_heartbeat: float | None


@dataclass(frozen=True)
class Reading:
    """Everything a scrape shows, read from Redis in one go."""

    tenants: dict[str, TenantReading]
    workers: list[WorkerReading] = field(default_factory=list)
    version: str = __version__


def read_tenant(
    client: redis.Redis, tenant: str, timers_key: str, reconcile_every: float | None = None
) -> TenantReading:
    """One tenant's numbers in one round trip (its keys share a hash slot)."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.metrics(tenant))
    pipe.zcard(keys.ready(tenant))
    pipe.zcard(keys.processing(tenant))
    pipe.llen(keys.dead_letters(tenant))
    pipe.zcard(timers_key)
    pipe.hget(keys.checkpoint(tenant, "reconcile"), "last_pass_at")
    counters, ready, processing, dead, timers, last_pass = pipe.execute()
    last = parse_instant(keys.as_text(last_pass)) if last_pass else None
    return TenantReading(
        counters={keys.as_text(name): int(value) for name, value in counters.items()},
        ready=int(ready),
        processing=int(processing),
        dead=int(dead),
        timers=int(timers),
        reconcile_last=last.timestamp() if last else None,
        reconcile_every=reconcile_every,
    )


def read_workers(queue: Queue, client: redis.Redis) -> list[WorkerReading]:
    """The RQ workers registered on the drain queue (RQ drops a worker whose heartbeat key expired); on a
    Redis Cluster, where workers run without RQ, the roster they keep themselves (plugin.roster)."""
    if is_cluster(client):
        return [WorkerReading(state, heartbeat) for state, heartbeat in roster.serving(client)]
    found: list[WorkerReading] = []
    try:
        workers = Worker.all(queue=queue)
    except AttributeError:  # RQ builds no Worker over a Redis Cluster client (it needs `connection_pool`)
        return found
    for worker in workers:
        beat = worker.last_heartbeat
        state = str(worker.get_state())
        found.append(WorkerReading(state if state.isidentifier() else "unknown", _epoch(beat) if beat else None))
    return found


def _epoch(moment: datetime) -> float:
    """RQ keeps naive UTC datetimes."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# --- the collector -----------------------------------------------------------------------------------------------


class EscalatorCollector(Collector):
    """The metric families of one `Reading` (no I/O: the reading was taken before)."""

    def __init__(self, reading: Reading) -> None:
        self.reading = reading

    def collect(self) -> Iterator[Metric]:
        tenants = self.reading.tenants
        info = GaugeMetricFamily(f"{PREFIX}_build_info", "Escalator's version (always 1).", labels=["version"])
        info.add_metric([self.reading.version], 1)
        yield info
        for field_name, family, documentation in COUNTERS:
            counter = CounterMetricFamily(f"{PREFIX}_{family}", documentation, labels=["tenant"])
            for tenant, numbers in tenants.items():
                counter.add_metric([tenant], numbers.counters.get(field_name, 0))
            yield counter
        yield self._webhooks()
        yield self._sla()
        for spec in HISTOGRAMS:
            yield self._histogram(spec)
        yield from self._queue()
        yield from self._reconcile()
        yield from self._workers()

    def _webhooks(self) -> Metric:
        family = CounterMetricFamily(
            f"{PREFIX}_webhooks",
            "Webhook deliveries by outcome (accepted, duplicate, ignored, refused) and HTTP status.",
            labels=["tenant", "outcome", "status"],
        )
        for tenant, numbers in self.reading.tenants.items():
            seen = {(outcome, str(status)): 0 for outcome, status in WEBHOOK_OUTCOMES}
            for name, value in numbers.counters.items():
                kind, _, rest = name.partition(":")
                outcome, _, status = rest.partition(":")
                if kind == "webhooks" and outcome and status:
                    seen[(outcome, status)] = value
            for (outcome, status), value in sorted(seen.items()):
                family.add_metric([tenant, outcome, status], value)
        return family

    def _sla(self) -> Metric:
        family = CounterMetricFamily(
            f"{PREFIX}_sla_outcomes",
            "SLA clocks finished, by metric and outcome (met, breached; a breach counts when it happens).",
            labels=["tenant", "metric", "outcome"],
        )
        for tenant, numbers in self.reading.tenants.items():
            for metric in SLA_METRICS:
                for outcome in SLA_OUTCOMES:
                    family.add_metric([tenant, metric, outcome], numbers.counters.get(sla_field(metric, outcome), 0))
        return family

    def _histogram(self, spec: Buckets) -> Metric:
        family = HistogramMetricFamily(f"{PREFIX}_{spec.name}", spec.documentation, labels=["tenant"])
        for tenant, numbers in self.reading.tenants.items():
            buckets, total = spec.cumulative(numbers.counters)
            family.add_metric([tenant], buckets, total)
        return family

    def _queue(self) -> Iterator[Metric]:
        backlog = GaugeMetricFamily(
            f"{PREFIX}_backlog_tickets",
            "Tickets with events waiting (ready, including retries waiting for their turn) or held by a worker.",
            labels=["tenant", "state"],
        )
        dead = GaugeMetricFamily(
            f"{PREFIX}_dead_letters",
            "Events in the dead-letter list now (escalator dead-letters TENANT lists and replays them).",
            labels=["tenant"],
        )
        timers = GaugeMetricFamily(f"{PREFIX}_timers_armed", "Timers armed (pending).", labels=["tenant"])
        for tenant, numbers in self.reading.tenants.items():
            backlog.add_metric([tenant, "ready"], numbers.ready)
            backlog.add_metric([tenant, "processing"], numbers.processing)
            dead.add_metric([tenant], numbers.dead)
            timers.add_metric([tenant], numbers.timers)
        yield from (backlog, dead, timers)

    def _reconcile(self) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            f"{PREFIX}_reconcile_last_success_timestamp_seconds",
            "When the tenant's last reconciliation pass finished (Unix time; 0: never).",
            labels=["tenant"],
        )
        every = GaugeMetricFamily(
            f"{PREFIX}_reconcile_interval_seconds",
            "How often reconciliation should run for the tenant (0: off).",
            labels=["tenant"],
        )
        for tenant, numbers in self.reading.tenants.items():
            last.add_metric([tenant], numbers.reconcile_last or 0)
            every.add_metric([tenant], numbers.reconcile_every or 0)
        yield from (last, every)

    def _workers(self) -> Iterator[Metric]:
        states: dict[str, int] = {"busy": 0, "idle": 0}
        newest = 0.0
        for worker in self.reading.workers:
            states[worker.state] = states.get(worker.state, 0) + 1
            newest = max(newest, worker.last_heartbeat or 0.0)
        workers = GaugeMetricFamily(
            f"{PREFIX}_workers",
            "Workers serving the drain queue (RQ's registry; on a cluster, the workers' own roster), by state.",
            labels=["state"],
        )
        for state, count in sorted(states.items()):
            workers.add_metric([state], count)
        heartbeat = GaugeMetricFamily(
            f"{PREFIX}_worker_last_heartbeat_timestamp_seconds",
            "The newest heartbeat of any registered worker (Unix time; 0: no worker registered).",
        )
        heartbeat.add_metric([], newest)
        yield from (workers, heartbeat)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus version reads."""


def exposition(reading: Reading) -> bytes:
    """The text format of one reading."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EscalatorCollector(reading))
    return generate_latest(registry)


def read(client: redis.Redis, tenants: Sequence[tuple[str, str, float | None]], queue: Queue) -> Reading:
    """(tenant, its timers' pending key, its reconcile interval) for each tenant, and the drain queue."""
    return Reading(
        tenants={name: read_tenant(client, name, timers_key, every) for name, timers_key, every in tenants},
        workers=read_workers(queue, client),
    )
