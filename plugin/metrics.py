"""The KPIs of DESIGN §8 for a window of days, from the daily aggregates the workers keep (rules.kpi).

A report reads a handful of keys per day asked for (a hash of counters and a few lists of durations per
day), never the tickets' states: its cost grows with the days in the window, not with the tickets ever seen.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from escalator.plugin import keys
from escalator.rules.policy import SLA_METRICS

DEFAULT_DAYS = 30


def quantiles(values: Iterable[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    if not ordered:
        return {"median": None, "p90": None, "count": 0}
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]  # nearest rank: 90% of values are <= p90
    return {"median": round(statistics.median(ordered), 3), "p90": round(p90, 3), "count": len(ordered)}


OUTLIER_TIMES_MEDIAN = 3.0
"""An agent whose clocks stood still more than this many times the median agent's is a pause outlier."""
OUTLIER_MIN_AGENTS = 3
"""Fewer agents pausing than this make no team to compare with."""
OUTLIER_MIN_HOURS = 4.0
"""Below this many hours paused in the window, nobody is an outlier (a quiet window proves nothing)."""


def pause_outliers(seconds_by_agent: dict[str, int]) -> dict[str, dict[str, float]]:
    """Agents whose share of the time paused is far above the team's: more than OUTLIER_TIMES_MEDIAN times
    the median agent's paused hours (the per-ticket toggle count catches one ticket parked again and again;
    this catches an agent parking many tickets once each)."""
    hours = {agent: seconds / 3600 for agent, seconds in seconds_by_agent.items() if agent and seconds > 0}
    if len(hours) < OUTLIER_MIN_AGENTS:
        return {}
    median, total = statistics.median(hours.values()), sum(hours.values())
    return {
        agent: {
            "paused_hours": round(value, 2),
            "share": round(value / total, 4),
            "times_median": round(value / median, 2),
        }
        for agent, value in sorted(hours.items())
        if value >= OUTLIER_MIN_HOURS and value > OUTLIER_TIMES_MEDIAN * median
    }


def _hours_of(seconds: dict[str, int]) -> dict[str, float]:
    return {name: round(value / 3600, 2) for name, value in seconds.items()}


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class Window:
    """The aggregates of some days, added up."""

    counts: Counter[str] = field(default_factory=Counter)
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, counts: dict[str, int], values: dict[str, list[float]]) -> None:
        self.counts.update(counts)
        for series, items in values.items():
            self.values.setdefault(series, []).extend(items)

    def prefixed(self, prefix: str) -> dict[str, int]:
        return {name.removeprefix(prefix): n for name, n in sorted(self.counts.items()) if name.startswith(prefix)}

    def series(self, prefix: str) -> dict[str, dict[str, float | int | None]]:
        return {
            name.removeprefix(prefix): quantiles(items)
            for name, items in sorted(self.values.items())
            if name.startswith(prefix)
        }

    def kpis(self) -> dict[str, Any]:
        count = self.counts
        sla = {}
        for metric in SLA_METRICS:
            met, breached = count[f"sla:{metric}:met"], count[f"sla:{metric}:breached"]
            if met or breached:
                sla[metric] = {"met": met, "breached": breached, "attainment": _ratio(met, met + breached)}
        return {
            "tickets": count["tickets"],
            "escalated": count["escalated"],
            "escalation_rate": _ratio(count["escalated"], count["tickets"]),
            "routed": count["routed"],
            "escalations_by_rule": self.prefixed("by_rule:"),
            "escalations_by_target": self.prefixed("by_target:"),
            "escalations_by_actor": {"rule": count["by_actor:rule"], "agent": count["by_actor:agent"]},
            "routings_by_rule": self.prefixed("routed_by_rule:"),
            "touches_per_escalated_ticket": _ratio(count["touches"], count["solved_escalated"]),
            "escalated_resolution_hours": quantiles(self.values.get("resolution_hours", [])),
            "resolution_hours_by_rule": self.series("rule_hours:"),
            "resolution_hours_by_target": self.series("target_hours:"),
            "time_in_tier_hours": self.series("tier_hours:"),
            "bounced_tickets": count["bounced"],
            "moved_tickets": count["moved"],
            "bounce_rate": _ratio(count["bounced"], count["moved"]),
            "sla": sla,
            "paused_hours_per_ticket": quantiles(self.values.get("paused_hours", [])),
            "paused_hours_by_agent": _hours_of(self.prefixed("paused_seconds_by_agent:")),
            "paused_hours_by_unit": _hours_of(self.prefixed("paused_seconds_by_unit:")),
            "suspicious_pause_tickets": count["pause_suspicious"],
            "pause_outliers": pause_outliers(self.prefixed("paused_seconds_by_agent:")),
            "incidents": count["incidents"],
            "incident_tickets": count["incident_tickets"],
        }


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=offset) for offset in range((until - since).days + 1)]


def read_days(
    client: redis.Redis, tenant: str, wanted: list[date]
) -> list[tuple[dict[str, int], dict[str, list[float]]]]:
    """Each day's aggregates, its counters and its duration series, in two round trips for the whole window
    (a year on the dashboard is 365 days: read one by one, that was two round trips a day)."""
    stamps = [day.isoformat() for day in wanted]
    pipe = client.pipeline(transaction=False)
    for stamp in stamps:
        pipe.hgetall(keys.kpi_day(tenant, stamp))
        pipe.smembers(keys.kpi_series(tenant, stamp))
    read = pipe.execute()
    counts = [{keys.as_text(name): int(value) for name, value in counters.items()} for counters in read[::2]]
    series = [sorted(keys.as_text(name) for name in names) for names in read[1::2]]
    pipe = client.pipeline(transaction=False)
    for stamp, names in zip(stamps, series, strict=True):
        for name in names:
            pipe.lrange(keys.kpi_values(tenant, stamp, name), 0, -1)
    lists = iter(pipe.execute() if any(series) else [])
    return [
        (day_counts, {name: [float(value) for value in next(lists)] for name in names})
        for day_counts, names in zip(counts, series, strict=True)
    ]


def kpi_report(
    client: redis.Redis,
    tenant: str,
    since: date | None = None,
    until: date | None = None,
    *,
    by_day: bool = False,
) -> dict[str, Any]:
    """The §8 report (`escalator metrics --json`) for the days from `since` to `until` (UTC dates, both
    included; default the last 30 days)."""
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    window, series = Window(), []
    wanted = days(since, until)
    for day, (counts, values) in zip(wanted, read_days(client, tenant, wanted), strict=True):
        window.add(counts, values)
        if by_day:
            daily = Window()
            daily.add(counts, values)
            series.append({"day": day.isoformat(), **daily.kpis()})
    report: dict[str, Any] = {"tenant": tenant, "since": since.isoformat(), "until": until.isoformat()}
    report.update(window.kpis())
    report["series"] = series
    counters = client.hgetall(keys.metrics(tenant))
    report["counters"] = {keys.as_text(name): int(value) for name, value in sorted(counters.items())}
    return report


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _hours(stats: dict[str, Any]) -> str:
    if not stats.get("count"):
        return "-"
    return f"median {stats['median']:.1f} h, p90 {stats['p90']:.1f} h ({stats['count']})"


def format_report(report: dict[str, Any]) -> str:
    actors = report["escalations_by_actor"]
    lines = [
        f"Escalation KPIs for {report['tenant']}, {report['since']} to {report['until']} (UTC days)",
        f"  tickets                              {report['tickets']}",
        f"  escalated                            {report['escalated']} ({_percent(report['escalation_rate'])}); "
        f"escalations by rules {actors['rule']}, by agents {actors['agent']}",
        f"  routed at creation                   {report['routed']}",
        "  touches per escalated ticket         "
        + ("-" if report["touches_per_escalated_ticket"] is None else f"{report['touches_per_escalated_ticket']:.1f}"),
        f"  resolution time of escalated tickets {_hours(report['escalated_resolution_hours'])}",
        f"  bounced tickets                      {report['bounced_tickets']} "
        f"({_percent(report['bounce_rate'])} of the tickets that changed hands)",
    ]
    for unit, stats in report["time_in_tier_hours"].items():
        lines.append(f"  time in {unit:<29}{_hours(stats)}")
    paused = report["paused_hours_per_ticket"]
    if paused.get("count"):
        lines.append(f"  clocks paused per solved ticket     {_hours(paused)}")
    if report["incidents"]:
        lines.append(
            f"  incidents                            {report['incidents']} ({report['incident_tickets']} tickets told)"
        )
    if report["suspicious_pause_tickets"]:
        lines.append(f"  tickets paused suspiciously often   {report['suspicious_pause_tickets']}")
    for agent, outlier in report["pause_outliers"].items():
        lines.append(
            f"  agent {agent} paused far more than the team: {outlier['paused_hours']:g} h, "
            f"{outlier['times_median']:g}x the median agent's"
        )
    for metric, outcome in report["sla"].items():
        lines.append(
            f"  SLA {metric:<33}{_percent(outcome['attainment'])} met "
            f"({outcome['met']} met, {outcome['breached']} breached)"
        )
    for title, counts in (
        ("escalations by rule", report["escalations_by_rule"]),
        ("escalations by target", report["escalations_by_target"]),
        ("routed by rule", report["routings_by_rule"]),
        ("hours paused by agent", report["paused_hours_by_agent"]),
    ):
        if counts:
            ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            lines.append(f"  {title}: " + ", ".join(f"{name} {n}" for name, n in ranked))
    for row in report["series"]:
        lines.append(
            f"  {row['day']}: {row['tickets']} tickets, {row['escalated']} escalated "
            f"({_percent(row['escalation_rate'])}), {row['bounced_tickets']} bounced"
        )
    return "\n".join(lines)
