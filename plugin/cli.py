"""`escalator`: serve, worker, validate, demo, due, and the admin commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence
from datetime import datetime

from rules.calendar import CalendarError
from rules.durations import DurationError, parse_duration
from rules.errors import PolicyError
from rules.loader import load_policy_file
from rules.model import format_instant, parse_instant

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


def _runtime_from_env() -> object:
    from plugin.config import ConfigError, load_config

    path = os.environ.get("ESCALATOR_CONFIG")
    if not path:
        raise SystemExit(_fail("set ESCALATOR_CONFIG to your configuration file (see README), or try `escalator demo`"))
    try:
        return load_config(path)
    except ConfigError as error:
        raise SystemExit(_fail(f"invalid configuration {path}:\n{error}")) from None


def cmd_serve(args: argparse.Namespace) -> int:
    import redis
    import waitress

    from plugin.app import create_app
    from plugin.config import Config
    from plugin.embedded import EmbeddedService
    from plugin.runtime import Runtime

    config = _runtime_from_env()
    assert isinstance(config, Config)
    if os.environ.get("REDIS_URL"):
        runtime = Runtime(config, redis.Redis.from_url(os.environ["REDIS_URL"]))
        print(f"escalator: receiving webhooks on http://{args.host}:{args.port} (Redis {_redacted_url()})")
    else:
        runtime = EmbeddedService(config).start()
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

    from plugin.clock import start_timer_loop
    from plugin.config import Config
    from plugin.embedded import run_sweeper
    from plugin.runtime import QUEUE_NAME, Runtime, install

    if not os.environ.get("REDIS_URL"):
        return _fail("set REDIS_URL: a worker shares Redis with the receiver (embedded mode needs no worker)")
    config = _runtime_from_env()
    assert isinstance(config, Config)
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    runtime = Runtime(config, connection)
    install(runtime)
    stop = threading.Event()
    threading.Thread(target=run_sweeper, args=(runtime, stop), daemon=True, name="escalator-sweeper").start()
    start_timer_loop(runtime, stop)
    from rq import SimpleWorker

    # SimpleWorker: drain jobs are long-lived loops, and per-process caches (groups, policies) survive jobs.
    SimpleWorker([QUEUE_NAME], connection=connection).work(burst=args.burst, with_scheduler=False)
    stop.set()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from plugin.demo import run_demo

    return run_demo(sys.stdout)


def cmd_not_yet(args: argparse.Namespace) -> int:
    return _fail(f"`escalator {args.command}` is not available in this release yet", EXIT_USAGE)


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

    demo = commands.add_parser("demo", help="a scripted day against a built-in fake Zendesk")
    demo.set_defaults(run=cmd_demo)

    due = commands.add_parser("due", help="when is a deadline due on a business calendar?")
    due.add_argument("rules", metavar="RULES")
    due.add_argument("--calendar", required=True)
    due.add_argument("--start")
    due.add_argument("--duration")
    due.add_argument("--between", nargs=2, metavar=("START", "END"))
    due.set_defaults(run=cmd_due)

    for name, text in (
        ("install", "set up the help desk side (webhooks, automations)"),
        ("backfill", "import open tickets so their clocks run from their real history"),
        ("reconcile", "one catch-up pass for changes whose webhooks never arrived"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("tenant")
        command.add_argument("--dry-run", action="store_true")
        command.set_defaults(run=cmd_not_yet)
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
