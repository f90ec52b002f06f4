"""The numbers admins improve the process with: escalation rate, resolution time of escalated tickets,
touches per escalated ticket, bounces, SLA attainment; plus operational counters for monitoring."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis

from escalator.plugin import keys
from escalator.rules.model import parse_instant


@dataclass
class KpiReport:
    tenant: str
    tickets: int = 0
    escalated: int = 0
    escalations_by_rule: Counter[str] = field(default_factory=Counter)
    escalations_by_target: Counter[str] = field(default_factory=Counter)
    touches_per_escalated: float | None = None
    bounced: int = 0
    resolution_hours: list[float] = field(default_factory=list)
    sla: dict[str, Counter[str]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.tickets if self.tickets else None

    def attainment(self, metric: str) -> float | None:
        outcomes = self.sla.get(metric, Counter())
        total = outcomes["met"] + outcomes["breached"]
        return outcomes["met"] / total if total else None

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "tickets": self.tickets,
            "escalated": self.escalated,
            "escalation_rate": self.escalation_rate,
            "escalations_by_rule": dict(self.escalations_by_rule),
            "escalations_by_target": dict(self.escalations_by_target),
            "touches_per_escalated_ticket": self.touches_per_escalated,
            "bounced_tickets": self.bounced,
            "resolution_hours_of_escalated": _quantiles(self.resolution_hours),
            "sla": {
                metric: {**dict(outcomes), "attainment": self.attainment(metric)}
                for metric, outcomes in sorted(self.sla.items())
            },
            "counters": self.counters,
        }


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "count": len(ordered),
    }


def kpi_report(client: redis.Redis, tenant: str) -> KpiReport:
    """Read every ticket state of the tenant (SCAN, so a large tenant does not block Redis)."""
    report = KpiReport(tenant)
    touches: list[int] = []
    for key in client.scan_iter(match=keys.state(tenant, "*"), count=1000):
        raw = client.get(key)
        if not raw:
            continue
        state = json.loads(raw)
        report.tickets += 1
        escalations = state.get("escalations") or []
        for entry in state.get("sla_log") or []:
            report.sla.setdefault(entry["metric"], Counter())[entry["outcome"]] += 1
        if state.get("bounces"):
            report.bounced += 1
        if not escalations:
            continue
        report.escalated += 1
        touches.append(int(state.get("touches", 0)))
        report.escalations_by_rule.update(entry["rule"] for entry in escalations)
        report.escalations_by_target.update(entry["target"] for entry in escalations)
        anchors = state.get("anchors") or {}
        created, solved = parse_instant(anchors.get("created")), parse_instant(anchors.get("solved"))
        if created and solved and solved >= created:
            report.resolution_hours.append((solved - created).total_seconds() / 3600)
    report.touches_per_escalated = statistics.fmean(touches) if touches else None
    report.counters = {keys.as_text(name): int(value) for name, value in client.hgetall(keys.metrics(tenant)).items()}
    return report


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_report(report: KpiReport) -> str:
    lines = [
        f"Escalation KPIs for {report.tenant}",
        f"  tickets seen                         {report.tickets}",
        f"  escalated                            {report.escalated} ({_percent(report.escalation_rate)})",
        "  touches per escalated ticket         "
        + ("-" if report.touches_per_escalated is None else f"{report.touches_per_escalated:.1f}"),
        f"  tickets that bounced back            {report.bounced}",
    ]
    resolution = _quantiles(report.resolution_hours)
    solved = "-"
    if resolution is not None:
        solved = f"median {resolution['median']:.1f} h, p90 {resolution['p90']:.1f} h ({resolution['count']} solved)"
    lines.append(f"  resolution time of escalated tickets {solved}")
    for metric, outcomes in sorted(report.sla.items()):
        lines.append(
            f"  SLA {metric:<33}{_percent(report.attainment(metric))} met "
            f"({outcomes['met']} met, {outcomes['breached']} breached)"
        )
    for title, counts in (
        ("escalations by rule", report.escalations_by_rule),
        ("escalations by target", report.escalations_by_target),
    ):
        if counts:
            lines.append(f"  {title}: " + ", ".join(f"{name} {n}" for name, n in counts.most_common()))
    return "\n".join(lines)


def prometheus(client: redis.Redis, tenants: list[str], timers_armed: int) -> str:
    """Operational counters in the Prometheus text format, for the deployment's monitoring."""
    counters: dict[str, list[str]] = {}
    backlog = ["# TYPE escalator_backlog gauge"]
    for tenant in tenants:
        for name, value in sorted(client.hgetall(keys.metrics(tenant)).items()):
            metric = f"escalator_{keys.as_text(name)}_total"
            counters.setdefault(metric, [f"# TYPE {metric} counter"]).append(
                f'{metric}{{tenant="{tenant}"}} {int(value)}'
            )
        sizes = {
            "ready": client.zcard(keys.ready(tenant)),
            "processing": client.zcard(keys.processing(tenant)),
            "dead": client.llen(keys.dead_letters(tenant)),
        }
        backlog += [f'escalator_backlog{{tenant="{tenant}",state="{state}"}} {int(n)}' for state, n in sizes.items()]
    lines = [line for block in counters.values() for line in block] + backlog
    lines += ["# TYPE escalator_timers_armed gauge", f"escalator_timers_armed {timers_armed}"]
    return "\n".join(lines) + "\n"
