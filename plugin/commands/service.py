"""`escalator serve`, `worker`, `healthcheck` and `demo`: running the service."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from escalator.plugin.commands.common import (
    EXIT_OK,
    EXIT_PROBLEM,
    REDIS_ENV,
    config_from_env,
    connect_checked,
    reads,
    redis_url,
)
from escalator.plugin.migrate import migrate


def cmd_serve(args: argparse.Namespace) -> int:
    import waitress

    from escalator.plugin.app import create_app
    from escalator.plugin.connection import describe
    from escalator.plugin.embedded import EmbeddedService
    from escalator.plugin.runtime import Runtime

    config = config_from_env()
    url = os.environ.get(REDIS_ENV)
    if url:
        # The receiver fails fast (503 within 2 s) rather than waiting on Redis: see plugin.connection.
        runtime = Runtime(config, connect_checked(url, "receiver"))
        migrate(connect_checked(url, "commands"), config.tenants)
        print(f"escalator: receiving webhooks on http://{args.host}:{args.port} (Redis {describe(url)})")
    else:
        runtime = EmbeddedService(config, reconcile=True).start()
        print(
            f"escalator: embedded mode (in-process Redis, worker and timers in this process) on "
            f"http://{args.host}:{args.port}; set {REDIS_ENV} for production"
        )
    waitress.serve(create_app(runtime), host=args.host, port=args.port, threads=args.threads, _quiet=True)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    from escalator.plugin.connection import connect
    from escalator.plugin.runtime import Runtime
    from escalator.plugin.worker import WorkerService, default_health_file

    url = redis_url("a worker shares Redis with the receiver (embedded mode needs no worker)")
    config = config_from_env()
    commands = connect_checked(url, "commands")
    migrate(commands, config.tenants)
    runtime = Runtime(config, commands, listener=connect(url, "pubsub"))
    service = WorkerService(
        runtime, rq_connection=connect(url, "blocking"), reconcile=True, health_file=default_health_file()
    )
    print(f"escalator: worker started for {len(config.tenants)} tenant(s); SIGTERM stops it gracefully", flush=True)
    return service.run(burst=args.burst)


def cmd_healthcheck(args: argparse.Namespace) -> int:
    from escalator.plugin.worker import check_health, default_health_file

    healthy, why = check_health(Path(args.file) if args.file else default_health_file(), args.max_age)
    print(f"escalator worker: {why}", file=sys.stdout if healthy else sys.stderr)
    return EXIT_OK if healthy else EXIT_PROBLEM


def cmd_demo(args: argparse.Namespace) -> int:
    from escalator.plugin.demo import run_demo

    return run_demo(sys.stdout)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="receive webhooks (embedded mode with worker and timers when REDIS_URL is unset)",
        description="The webhook receiver: verifies, parses, deduplicates and queues help-desk events. With no "
        "REDIS_URL it runs the whole service in this process on an in-process Redis (for trying Escalator).",
        epilog=reads("config", "redis", "secrets"),
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--threads", type=int, default=8)
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser(
        "worker",
        help="process queued events and timers (needs REDIS_URL)",
        description="Decides and writes back queued events, fires SLA and elapsed-time timers to the second, and "
        "runs the periodic reconciliation. Waits out Redis outages; SIGTERM finishes the ticket at hand and exits.",
        epilog=reads("config", "redis", "secrets") + "; ESCALATOR_HEALTH_FILE (default /tmp/escalator-worker.alive)",
    )
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(run=cmd_worker)

    health = commands.add_parser(
        "healthcheck",
        help="exit 0 if this host's worker made progress recently (for Docker's HEALTHCHECK)",
        description="Reads the health file a running `escalator worker` touches as its loops make progress.",
        epilog="environment: ESCALATOR_HEALTH_FILE (default /tmp/escalator-worker.alive)",
    )
    health.add_argument("--file", help="the worker's health file")
    health.add_argument("--max-age", type=float, default=120.0, help="seconds without progress that count as dead")
    health.set_defaults(run=cmd_healthcheck)

    demo = commands.add_parser(
        "demo",
        help="a scripted day against a built-in fake Zendesk",
        description="The whole flow on the embedded default against a built-in fake help desk, explained per ticket.",
        epilog="environment: none",
    )
    demo.set_defaults(run=cmd_demo)
