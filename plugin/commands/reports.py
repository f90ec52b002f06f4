"""`escalator metrics`: the KPIs of DESIGN §8, read from the deployment's Redis."""

from __future__ import annotations

import argparse
import json

from escalator.plugin.commands.common import EXIT_OK, config_from_env, connect_checked, known_tenant, reads, redis_url


def cmd_metrics(args: argparse.Namespace) -> int:
    from escalator.plugin.metrics import format_report, kpi_report

    config = config_from_env()
    known_tenant(config, args.tenant)
    client = connect_checked(redis_url("the KPIs are read from the deployment's Redis"), "commands")
    report = kpi_report(client, args.tenant)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    metrics = commands.add_parser(
        "metrics",
        help="escalation KPIs: rate, resolution time, touches, time in tier, bounces, SLA attainment",
        description="The escalation KPIs of one tenant (README: Measuring the process); --json for machines.",
        epilog=reads("config", "redis"),
    )
    metrics.add_argument("tenant")
    metrics.add_argument("--json", action="store_true", help="machine-readable output")
    metrics.set_defaults(run=cmd_metrics)
