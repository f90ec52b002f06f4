"""`escalator metrics`: the KPIs of DESIGN §8, read from the daily aggregates in the deployment's Redis."""

from __future__ import annotations

import argparse
import json
from datetime import date

from escalator.plugin.commands.common import EXIT_OK, config_from_env, connect_checked, known_tenant, reads, redis_url
from escalator.rules.model import parse_instant


def _day(text: str) -> date:
    try:
        instant = parse_instant(text if "T" in text else f"{text}T00:00:00Z")
    except ValueError:
        instant = None
    if instant is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date or an ISO 8601 instant (e.g. 2026-11-01)")
    return instant.date()


def cmd_metrics(args: argparse.Namespace) -> int:
    from escalator.plugin.metrics import format_report, kpi_report

    config = config_from_env()
    known_tenant(config, args.tenant)
    client = connect_checked(redis_url("the KPIs are read from the deployment's Redis"), "commands")
    report = kpi_report(client, args.tenant, args.since, args.until, by_day=args.by == "day")
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    metrics = commands.add_parser(
        "metrics",
        help="escalation KPIs: rate, resolution time, touches, time in tier, bounces, SLA attainment",
        description="The escalation KPIs of one tenant over a window of UTC days (default: the last 30), from "
        "aggregates kept as events happen (README: Measuring the process); --json for machines.",
        epilog=reads("config", "redis"),
    )
    metrics.add_argument("tenant")
    metrics.add_argument("--json", action="store_true", help="machine-readable output (the KPI keys the README lists)")
    metrics.add_argument("--since", type=_day, help="first day (ISO 8601 date or instant; default 30 days ago)")
    metrics.add_argument("--until", type=_day, help="last day, included (default today)")
    metrics.add_argument("--by", choices=["day"], help="add a series: one entry per day")
    metrics.set_defaults(run=cmd_metrics)
