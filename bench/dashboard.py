"""The dashboard's KPI endpoint over a year of daily aggregates: how fast it answers, and how big the answer is.

A year of a busy help desk's aggregates is written through the worker's own code path: each ticket's life is a
chain of `TicketState`s (created or routed, first reply in or out of SLA, escalated by a rule or an agent,
perhaps bounced, solved), `plugin.recording.kpi_ops` turns each step into the Redis operations the worker
writes with the ticket's state, and `EventQueue.finish` writes them with the same Lua script. Then
`GET /api/admin/tenants/<tenant>/kpis` is asked for 30, 90 and 365 days through the Flask app (admin bearer),
several times each, and the median and worst wall times and the JSON size are printed.

    .venv/bin/python bench/dashboard.py [--per-day 150] [--days 365] [--repeat 7]

`seed_kpis` is also what the dashboard's browser test and the README screenshot use for realistic data.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import private_redis  # noqa: E402
from escalator.plugin.queue import EventQueue, Finish, Op  # noqa: E402
from escalator.plugin.recording import kpi_ops  # noqa: E402
from escalator.rules.model import format_instant  # noqa: E402
from escalator.rules.state import Escalation, TicketState  # noqa: E402

GROUPS = {"L1": "Tier 1", "L2": "Tier 2", "L3": "Tier 3", "finance": "Finance", "legal": "Legal",
          "security": "Security", "leads": "Support Leads"}  # fmt: skip
TEAMS = ("finance", "legal", "security")
ROUTES = (("billing-error", "finance", 0.45), ("legal", "legal", 0.2), ("security-breach", "security", 0.1),
          ("direct-to-l2", "L2", 0.25))  # fmt: skip
"""(rule, target, share) of the tickets routed at creation."""
ESCALATING_RULES = (("outage-or-login", 0.35), ("idle-unassigned", 0.2), ("enterprise-idle-unassigned", 0.12),
                    ("sla-breach", 0.18), ("unassigned-fuse", 0.15))  # fmt: skip


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*weighted, strict=True)
    return rng.choices(names, weights)[0]


def _step(state: TicketState, at: datetime) -> TicketState:
    after = copy.deepcopy(state)
    after.last_event_at = format_instant(at)
    return after


def _enter(state: TicketState, unit: str, at: datetime) -> None:
    if unit in TEAMS or unit == "leads":
        state.team = unit
    else:
        state.tier, state.team = unit, None
    state.enter_group(GROUPS[unit])
    state.anchors["tier_entered"] = format_instant(at)


def lifecycle(rng: random.Random, created: datetime, quality: float) -> Iterator[tuple[datetime, TicketState]]:
    """One ticket's states after each step, with the step's instant; `quality` (0..1) moves SLA attainment."""
    state = TicketState(status="new", priority=rng.choice(["low", "normal", "normal", "high", "urgent"]))
    state.anchors["created"] = format_instant(created)
    routed = rng.random() < 0.14
    if routed:
        rule = _pick(rng, tuple((r, s) for r, _, s in ROUTES))
        target = next(t for r, t, _ in ROUTES if r == rule)
        _enter(state, target, created)
        state.escalations.append(Escalation(format_instant(created), None, target, rule, direction="route"))
        state.routed = True
    else:
        _enter(state, "L1", created)
    yield created, state
    unit = state.team or state.tier or "L1"
    at = created + timedelta(minutes=rng.lognormvariate(3.2, 1.0))
    state = _step(state, at)
    state.status = "open"
    state.touched_by(f"agent-{rng.randrange(40)}")
    met = rng.random() < quality
    state.sla_log.append({"metric": "first_response", "unit": unit, "outcome": "met" if met else "breached",
                          "at": format_instant(at)})  # fmt: skip
    yield at, state
    if not routed and rng.random() < 0.26 + (1 - quality) * 0.4:
        by_agent = rng.random() < 0.3
        target = rng.choice(TEAMS) if rng.random() < 0.2 else "L2"
        at += timedelta(hours=rng.lognormvariate(0.8, 1.0))
        state = _step(state, at)
        rule = "" if by_agent else _pick(rng, ESCALATING_RULES)
        state.escalations.append(Escalation(format_instant(at), state.team or state.tier, target, rule,
                                            by="agent" if by_agent else "rule"))  # fmt: skip
        _enter(state, target, at)
        state.touched_by(f"agent-{rng.randrange(40)}")
        yield at, state
        if target == "L2" and rng.random() < 0.22:
            at += timedelta(hours=rng.lognormvariate(1.2, 0.9))
            state = _step(state, at)
            state.escalations.append(Escalation(format_instant(at), "L2", "L3", _pick(rng, ESCALATING_RULES)))
            _enter(state, "L3", at)
            state.touched_by(f"agent-{rng.randrange(40)}")
            yield at, state
        if rng.random() < 0.07:  # handed back to a group it had left: a bounce
            at += timedelta(hours=rng.lognormvariate(0.5, 0.8))
            state = _step(state, at)
            _enter(state, "L2" if state.tier == "L3" else "L1", at)
            yield at, state
    at += timedelta(hours=rng.lognormvariate(2.0, 1.1))
    state = _step(state, at)
    state.status = "solved"
    state.anchors["solved"] = format_instant(at)
    unit = state.team or state.tier or "L1"
    state.sla_log.append({"metric": "resolution", "unit": unit,
                          "outcome": "met" if rng.random() < quality + 0.04 else "breached",
                          "at": format_instant(at)})  # fmt: skip
    yield at, state


def quality_on(day: date) -> float:
    """SLA attainment drifts with the season and sags in a few bad weeks, as real ones do."""
    season = 0.05 * math.sin(day.timetuple().tm_yday / 365 * 2 * math.pi)
    bad_week = 0.12 if day.isocalendar()[1] % 9 == 4 else 0.0
    return max(0.5, min(0.98, 0.9 + season - bad_week))


def seed_kpis(
    client: redis.Redis,
    tenant: str,
    *,
    days: int,
    until: date,
    per_day: int,
    seed: int = 7,
    now: datetime | None = None,
) -> int:
    """Write `days` days (ending `until`) of realistic daily aggregates for `tenant`; returns the tickets made.
    Steps later than `now` (default: the end of `until`) are left out, as they have not happened yet."""
    rng = random.Random(seed)
    queue = EventQueue(client)
    limit = now or datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC)
    made = 0
    for offset in range(days):
        day = until - timedelta(days=days - 1 - offset)
        volume = per_day * (1.0 if day.weekday() < 5 else 0.4) * (0.8 + 0.4 * offset / max(1, days))
        ops: list[Op] = []
        for _ in range(max(1, round(rng.gauss(volume, volume * 0.12)))):
            created = datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=rng.uniform(0, 86_399))
            before = TicketState()
            for at, after in lifecycle(rng, created, quality_on(day)):
                if at > limit:
                    break
                ops += kpi_ops(tenant, before, after)
                before = after
            made += 1
        queue.finish(tenant, f"bench-seed-{day.isoformat()}", 0, Finish(ops=ops))
    return made


def measure(client: redis.Redis, tenant: str, windows: list[int], repeat: int, until: date) -> None:
    from escalator.plugin.app import create_app
    from escalator.plugin.config import Config, TenantConfig
    from escalator.plugin.runtime import Runtime

    config = Config(
        tenants={tenant: TenantConfig(name=tenant, vendor="zendesk", base_url="http://127.0.0.1:9", auth={},
                                      webhook_secret="x", rules_path=ROOT / "rules" / "seed-policy.json",
                                      rate_limit={})},
        admin_token="bench-admin-token",
    )  # fmt: skip
    app = create_app(Runtime(config, client)).test_client()
    headers = {"Authorization": "Bearer bench-admin-token", "Accept-Encoding": "gzip"}  # as a browser asks
    for days in windows:
        since = until - timedelta(days=days - 1)
        url = f"/api/admin/tenants/{tenant}/kpis?since={since.isoformat()}&until={until.isoformat()}"
        timings, size = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            answer = app.get(url, headers=headers)
            body = answer.get_data()
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.get_data(as_text=True)
            size = len(body)
        data = json.loads(gzip.decompress(body) if answer.headers.get("Content-Encoding") == "gzip" else body)
        plain = len(json.dumps(data))
        print(
            f"  {days:>3} days: median {statistics.median(timings) * 1000:6.1f} ms,"
            f" worst {max(timings) * 1000:6.1f} ms;"
            f" {plain / 1024:4.0f} KiB of JSON, {size / 1024:3.0f} KiB gzipped; {len(data['series'])} days,"
            f" {data['tickets']} tickets"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=150, help="tickets created on a weekday")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    until = datetime.now(UTC).date()
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        started = time.perf_counter()
        tickets = seed_kpis(client, "acme", days=args.days, until=until, per_day=args.per_day)
        keys = client.dbsize()
        memory = client.info("memory")["used_memory"] / 1024 / 1024
        print(
            f"seeded {tickets} tickets over {args.days} days through kpi_ops + EventQueue.finish in "
            f"{time.perf_counter() - started:.1f} s ({keys} keys, {memory:.0f} MiB in Redis)"
        )
        print("GET /api/admin/tenants/acme/kpis (kpi_report by day), through the Flask app:")
        measure(client, "acme", [d for d in (30, 90, args.days) if d <= args.days], args.repeat, until)
        client.close()


if __name__ == "__main__":
    main()
