"""`escalator`: serve, worker, validate, demo, due, and the admin commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from escalator.connectors.errors import VendorError
from escalator.plugin.config import Config
from escalator.rules.calendar import CalendarError
from escalator.rules.durations import DurationError, parse_duration
from escalator.rules.errors import PolicyError
from escalator.rules.loader import load_policy_file
from escalator.rules.model import format_instant, parse_instant

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"escalator: {message}", file=sys.stderr)
    return code


def cmd_validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for filename in args.files:
        try:
            policy = load_policy_file(filename)
        except PolicyError as error:
            status = EXIT_INVALID
            for problem in error.problems:
                print(problem.format(filename))
            continue
        print(
            f"{filename}: valid ({len(policy.tiers)} tiers, {len(policy.teams)} teams, "
            f"{len(policy.triggers)} triggers, {len(policy.slas)} SLAs)"
        )
    return status


def _instant(text: str) -> datetime:
    try:
        value = parse_instant(text)
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 instant (e.g. 2026-03-06T21:30:00Z)")
    return value


def cmd_due(args: argparse.Namespace) -> int:
    try:
        policy = load_policy_file(args.rules)
    except PolicyError as error:
        for problem in error.problems:
            print(problem.format(args.rules))
        return EXIT_INVALID
    calendar = policy.calendars.get(args.calendar)
    if calendar is None:
        known = ", ".join(sorted(policy.calendars)) or "none"
        return _fail(f"no calendar '{args.calendar}' in {args.rules} (calendars: {known})")
    try:
        if args.between:
            start, end = (_instant(text) for text in args.between)
            print(round(calendar.between(start, end)))
            return EXIT_OK
        if args.start is None or args.duration is None:
            return _fail("give --start and --duration, or --between START END")
        deadline = calendar.add(_instant(args.start), parse_duration(args.duration))
    except (argparse.ArgumentTypeError, DurationError, CalendarError) as error:
        return _fail(str(error))
    print(format_instant(deadline))
    return EXIT_OK


def _config_from_env(optional_env: Collection[str] = ()) -> Config:
    from escalator.plugin.config import ConfigError, load_config

    path = os.environ.get("ESCALATOR_CONFIG")
    if not path:
        raise SystemExit(_fail("set ESCALATOR_CONFIG to your configuration file (see README), or try `escalator demo`"))
    try:
        return load_config(path, optional_env=optional_env)
    except ConfigError as error:
        raise SystemExit(_fail(f"invalid configuration {path}:\n{error}")) from None


def cmd_serve(args: argparse.Namespace) -> int:
    import redis
    import waitress

    from escalator.plugin.app import create_app
    from escalator.plugin.embedded import EmbeddedService
    from escalator.plugin.runtime import Runtime

    config = _config_from_env()
    if os.environ.get("REDIS_URL"):
        runtime = Runtime(config, redis.Redis.from_url(os.environ["REDIS_URL"]))
        print(f"escalator: receiving webhooks on http://{args.host}:{args.port} (Redis {_redacted_url()})")
    else:
        runtime = EmbeddedService(config, reconcile=True).start()
        print(
            f"escalator: embedded mode (in-process Redis, worker and timers in this process) on "
            f"http://{args.host}:{args.port}; set REDIS_URL for production"
        )
    waitress.serve(create_app(runtime), host=args.host, port=args.port, threads=args.threads, _quiet=True)
    return EXIT_OK


def _redacted_url() -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(os.environ.get("REDIS_URL", ""))
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


def cmd_worker(args: argparse.Namespace) -> int:
    import redis

    from escalator.plugin.admin.reconcile import start_reconciler
    from escalator.plugin.clock import start_timer_loop
    from escalator.plugin.embedded import run_sweeper
    from escalator.plugin.runtime import QUEUE_NAME, Runtime, install

    if not os.environ.get("REDIS_URL"):
        return _fail("set REDIS_URL: a worker shares Redis with the receiver (embedded mode needs no worker)")
    config = _config_from_env()
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    runtime = Runtime(config, connection)
    install(runtime)
    stop = threading.Event()
    threading.Thread(target=run_sweeper, args=(runtime, stop), daemon=True, name="escalator-sweeper").start()
    start_timer_loop(runtime, stop)
    # Every worker runs the loop; a Redis lock and the time of the last pass keep it to one pass per interval.
    start_reconciler(runtime, stop)
    from rq import SimpleWorker

    # SimpleWorker: drain jobs are long-lived loops, and per-process caches (groups, policies) survive jobs.
    SimpleWorker([QUEUE_NAME], connection=connection).work(burst=args.burst, with_scheduler=False)
    stop.set()
    return EXIT_OK


def cmd_metrics(args: argparse.Namespace) -> int:
    import json

    import redis

    from escalator.plugin.metrics import format_report, kpi_report

    config = _config_from_env()
    if args.tenant not in config.tenants:
        return _fail(f"no tenant '{args.tenant}' in the configuration (tenants: {', '.join(sorted(config.tenants))})")
    if not os.environ.get("REDIS_URL"):
        return _fail("set REDIS_URL: the KPIs are read from the deployment's Redis")
    report = kpi_report(redis.Redis.from_url(os.environ["REDIS_URL"]), args.tenant)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from escalator.plugin.demo import run_demo

    return run_demo(sys.stdout)


ADMIN_OPTIONAL_ENV = ("webhook_secret",)
"""The admin commands run before the webhook's signing secret is known (install reads it), or do not need it."""


def _admin_runtime(tenant: str, *, need_redis: bool) -> object:
    """A runtime for an admin command on REDIS_URL (the workers' Redis: queue, checkpoints, OAuth tokens)."""
    import redis

    from escalator.connectors.zendesk.oauth import uses_refresh
    from escalator.plugin.embedded import embedded_redis
    from escalator.plugin.runtime import Runtime

    config = _config_from_env(ADMIN_OPTIONAL_ENV)
    if tenant not in config.tenants:
        known = ", ".join(sorted(config.tenants))
        raise SystemExit(_fail(f"no tenant '{tenant}' in the configuration (tenants: {known})"))
    url = os.environ.get("REDIS_URL")
    if url:
        return Runtime(config, redis.Redis.from_url(url))
    if need_redis:
        raise SystemExit(_fail("set REDIS_URL to the workers' Redis: the events go to their queue"))
    if uses_refresh(config.tenants[tenant].auth):
        raise SystemExit(
            _fail("set REDIS_URL: with a refresh_token a refreshed (rotated) OAuth token must reach the workers")
        )
    return Runtime(config, embedded_redis())


def cmd_install(args: argparse.Namespace) -> int:
    from escalator.plugin.admin.install import Install
    from escalator.plugin.runtime import Runtime

    runtime = _admin_runtime(args.tenant, need_redis=False)
    assert isinstance(runtime, Runtime)
    return Install(runtime, args.tenant, sys.stdout, dry_run=args.dry_run, show_secret=args.show_secret).run()


def _since(text: str) -> datetime:
    from datetime import UTC

    instant: datetime | None
    try:
        instant = parse_instant(text)
    except ValueError:
        try:
            instant = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=parse_duration(text))
        except DurationError:
            instant = None
    if instant is None:
        raise argparse.ArgumentTypeError(f"'{text}' is neither an ISO 8601 instant nor a duration such as 90d")
    return instant


def cmd_backfill(args: argparse.Namespace) -> int:
    from escalator.plugin.admin import EXIT_PROBLEM
    from escalator.plugin.admin.backfill import Backfill, BackfillBusy
    from escalator.plugin.runtime import Runtime

    runtime = _admin_runtime(args.tenant, need_redis=not args.dry_run)
    assert isinstance(runtime, Runtime)
    limit = "auto" if args.max_queued is None else args.max_queued or None
    backfill = Backfill(runtime, args.tenant, out=sys.stdout, err=sys.stderr, max_queued=limit)
    try:
        report = backfill.run(args.since, restart=args.restart, dry_run=args.dry_run)
    except BackfillBusy as error:
        return _fail(str(error), EXIT_PROBLEM)
    except VendorError as error:
        return _fail(f"backfill stopped (run it again to continue from the checkpoint): {error}", EXIT_PROBLEM)
    verb = "would queue" if args.dry_run else "queued"
    print(
        f"backfill {args.tenant}: {report.imported:,} open tickets imported ({report.events:,} events {verb}), "
        f"{report.skipped:,} solved/closed/deleted skipped, {report.scanned:,} scanned in {report.pages} pages"
    )
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    from escalator.plugin.admin import EXIT_PROBLEM
    from escalator.plugin.admin.reconcile import ReconcileBusy, Reconciler, print_report
    from escalator.plugin.runtime import Runtime

    runtime = _admin_runtime(args.tenant, need_redis=True)
    assert isinstance(runtime, Runtime)
    try:
        report = Reconciler(runtime, args.tenant).run(dry_run=args.dry_run)
    except ReconcileBusy as error:
        return _fail(f"{error}; try again in a minute", EXIT_PROBLEM)
    except VendorError as error:
        return _fail(f"reconciliation stopped (the next pass continues from the checkpoint): {error}", EXIT_PROBLEM)
    print_report(sys.stdout, args.tenant, report, dry_run=args.dry_run)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escalator", description="Support-ticket escalation for Zendesk and Freshdesk."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what every rule decides")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="receive webhooks (embedded mode when REDIS_URL is unset)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--threads", type=int, default=8)
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="process queued events and timers (needs REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(run=cmd_worker)

    validate = commands.add_parser("validate", help="check rules files; exit 1 if any is invalid")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(run=cmd_validate)

    metrics = commands.add_parser("metrics", help="escalation KPIs: rate, resolution time, touches, SLA attainment")
    metrics.add_argument("tenant")
    metrics.add_argument("--json", action="store_true", help="machine-readable output")
    metrics.set_defaults(run=cmd_metrics)

    demo = commands.add_parser("demo", help="a scripted day against a built-in fake Zendesk")
    demo.set_defaults(run=cmd_demo)

    due = commands.add_parser("due", help="when is a deadline due on a business calendar?")
    due.add_argument("rules", metavar="RULES")
    due.add_argument("--calendar", required=True)
    due.add_argument("--start")
    due.add_argument("--duration")
    due.add_argument("--between", nargs=2, metavar=("START", "END"))
    due.set_defaults(run=cmd_due)

    install_ = commands.add_parser(
        "install", help="set up the help desk side (webhook; Freshdesk: the rules to create)"
    )
    install_.add_argument("tenant")
    install_.add_argument("--dry-run", action="store_true", help="say what would be created or changed; write nothing")
    install_.add_argument("--show-secret", action="store_true", help="print the webhook's signing secret in full")
    install_.set_defaults(run=cmd_install)

    backfill = commands.add_parser("backfill", help="import open tickets so their clocks run from their real history")
    backfill.add_argument("tenant")
    backfill.add_argument(
        "--since", type=_since, default="365d", help="tickets updated since (ISO 8601 or a duration; default 365d)"
    )
    backfill.add_argument("--restart", action="store_true", help="start over instead of resuming the checkpoint")
    backfill.add_argument("--dry-run", action="store_true", help="count what would be imported; queue nothing")
    backfill.add_argument(
        "--max-queued",
        type=int,
        help="wait while this many tickets wait for a worker (default: 10 s of the tenant's budget; 0: no limit)",
    )
    backfill.set_defaults(run=cmd_backfill)

    reconcile = commands.add_parser("reconcile", help="one catch-up pass for changes whose webhooks never arrived")
    reconcile.add_argument("tenant")
    reconcile.add_argument("--dry-run", action="store_true", help="report what would be caught up; queue nothing")
    reconcile.set_defaults(run=cmd_reconcile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
