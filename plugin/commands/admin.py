"""`escalator install`, `backfill`, `reconcile` and `dead-letters`: an admin's work on one tenant."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from escalator.connectors.errors import VendorError
from escalator.plugin.commands.common import (
    EXIT_OK,
    EXIT_PROBLEM,
    REDIS_ENV,
    config_from_env,
    connect_checked,
    fail,
    known_tenant,
    reads,
    redis_url,
    since_arg,
)
from escalator.plugin.runtime import Runtime
from escalator.rules.model import format_instant

ADMIN_OPTIONAL_ENV = ("webhook_secret",)
"""The admin commands run before the webhook's signing secret is known (install reads it), or do not need it."""


def admin_runtime(tenant: str, *, need_redis: bool) -> Runtime:
    """A runtime for an admin command on REDIS_URL (the workers' Redis: queue, checkpoints, OAuth tokens), or
    on a throw-away in-process Redis for a command that does not need the workers' (install, dry runs)."""
    from escalator.connectors.registry import connector_for
    from escalator.plugin.embedded import embedded_redis

    config = config_from_env(ADMIN_OPTIONAL_ENV)
    known_tenant(config, tenant)
    if need_redis:
        return Runtime(config, connect_checked(redis_url("the events go to the workers' queue"), "commands"))
    settings = config.tenants[tenant]
    if connector_for(settings.vendor).rotates_tokens(settings.auth):
        url = redis_url("with a refresh_token a refreshed (rotated) OAuth token must reach the workers")
        return Runtime(config, connect_checked(url, "commands"))
    return Runtime(config, embedded_redis())


def cmd_install(args: argparse.Namespace) -> int:
    from escalator.plugin.admin.install import Install

    runtime = admin_runtime(args.tenant, need_redis=bool(os.environ.get(REDIS_ENV)) and not args.dry_run)
    return Install(runtime, args.tenant, sys.stdout, dry_run=args.dry_run, show_secret=args.show_secret).run()


def cmd_backfill(args: argparse.Namespace) -> int:
    from escalator.plugin.admin.backfill import Backfill, BackfillBusy

    runtime = admin_runtime(args.tenant, need_redis=not args.dry_run)
    limit = "auto" if args.max_queued is None else args.max_queued or None
    backfill = Backfill(runtime, args.tenant, out=sys.stdout, err=sys.stderr, max_queued=limit)
    try:
        report = backfill.run(args.since, restart=args.restart, dry_run=args.dry_run)
    except BackfillBusy as error:
        return fail(str(error), EXIT_PROBLEM)
    except VendorError as error:
        if error.status in (0, 401, 403) or error.status >= 500:
            raise  # the help desk is unreachable or refuses us: exit 4 (see cli.main)
        return fail(f"backfill stopped (run it again to continue from the checkpoint): {error}", EXIT_PROBLEM)
    verb = "would queue" if args.dry_run else "queued"
    print(
        f"backfill {args.tenant}: {report.imported:,} open tickets imported ({report.events:,} events {verb}), "
        f"{report.skipped:,} solved/closed/deleted skipped, {report.scanned:,} scanned in {report.pages} pages"
    )
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    from escalator.plugin.admin.reconcile import ReconcileBusy, Reconciler, print_report

    runtime = admin_runtime(args.tenant, need_redis=True)
    try:
        report = Reconciler(runtime, args.tenant).run(dry_run=args.dry_run)
    except ReconcileBusy as error:
        return fail(f"{error}; try again in a minute", EXIT_PROBLEM)
    except VendorError as error:
        if error.status in (0, 401, 403) or error.status >= 500:
            raise
        return fail(f"reconciliation stopped (the next pass continues from the checkpoint): {error}", EXIT_PROBLEM)
    print_report(sys.stdout, args.tenant, report, dry_run=args.dry_run)
    return EXIT_OK


def cmd_dead_letters(args: argparse.Namespace) -> int:
    runtime = admin_runtime(args.tenant, need_redis=True)
    if args.replay is not None:
        moved = runtime.queue.replay(args.tenant, args.replay)
        if moved:
            runtime.wake(args.tenant)
        which = f"of ticket(s) {', '.join(args.replay)}" if args.replay else "of every ticket"
        print(f"dead letters of {args.tenant}: {moved} event(s) {which} queued again for the workers")
        return EXIT_OK
    letters = runtime.queue.dead_letters(args.tenant)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "ticket_id": letter.ticket_id,
                        "event": letter.event.get("kind"),
                        "delivery_id": letter.event.get("delivery_id"),
                        "attempts": letter.attempts,
                        "error": letter.error,
                        "buried_at": format_instant(datetime.fromtimestamp(letter.buried_at, UTC)),
                    }
                    for letter in letters
                ],
                indent=2,
            )
        )
        return EXIT_OK
    if not letters:
        print(f"dead letters of {args.tenant}: none")
        return EXIT_OK
    print(f"dead letters of {args.tenant}: {len(letters)} event(s)")
    for letter in letters:
        when = format_instant(datetime.fromtimestamp(letter.buried_at, UTC).replace(microsecond=0))
        tries = f", {letter.attempts} attempt(s)" if letter.attempts else ""
        print(f"  #{letter.ticket_id} {letter.event.get('kind', 'unreadable event')} at {when}{tries}: {letter.error}")
    print(f"replay with: escalator dead-letters {args.tenant} --replay [TICKET ...]")
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    install = commands.add_parser(
        "install",
        help="set up the help desk side (webhook; Freshdesk: the automation rules)",
        description="Checks the credentials and the groups the rules name, and creates (or updates, idempotently) "
        "the webhook set-up in the help desk. --dry-run changes nothing and needs no Redis.",
        epilog=reads("config", "redis", "secrets"),
    )
    install.add_argument("tenant")
    install.add_argument("--dry-run", action="store_true", help="say what would be created or changed; write nothing")
    install.add_argument("--show-secret", action="store_true", help="print the webhook's signing secret in full")
    install.set_defaults(run=cmd_install)

    backfill = commands.add_parser(
        "backfill",
        help="import open tickets so their clocks run from their real history",
        description="Reads the help desk's export and queues each open ticket's history (observed, never "
        "answered), with a progress bar; resumable.",
        epilog=reads("config", "redis", "secrets"),
    )
    backfill.add_argument("tenant")
    backfill.add_argument(
        "--since",
        type=since_arg("90d"),
        default="365d",
        help="tickets updated since (ISO 8601 or a duration; default 365d)",
    )
    backfill.add_argument("--restart", action="store_true", help="start over instead of resuming the checkpoint")
    backfill.add_argument("--dry-run", action="store_true", help="count what would be imported; queue nothing")
    backfill.add_argument(
        "--max-queued",
        type=int,
        help="wait while this many tickets wait for a worker (default: 10 s of the tenant's budget; 0: no limit)",
    )
    backfill.set_defaults(run=cmd_backfill)

    reconcile = commands.add_parser(
        "reconcile",
        help="one catch-up pass for changes whose webhooks never arrived",
        description="Compares the help desk's recent changes with what Escalator saw and queues what is missing.",
        epilog=reads("config", "redis", "secrets"),
    )
    reconcile.add_argument("tenant")
    reconcile.add_argument("--dry-run", action="store_true", help="report what would be caught up; queue nothing")
    reconcile.set_defaults(run=cmd_reconcile)

    dead = commands.add_parser(
        "dead-letters",
        help="list the events that failed for good, or queue them again",
        description="Events that failed every retry (or were malformed) are kept with their error. List them "
        "(ticket, event, attempts, last error, when), or --replay them (all, or those of the tickets named).",
        epilog=reads("config", "redis", "secrets"),
    )
    dead.add_argument("tenant")
    dead.add_argument("--json", action="store_true", help="machine-readable output")
    dead.add_argument("--replay", nargs="*", metavar="TICKET", help="queue the events again (all when no ticket)")
    dead.set_defaults(run=cmd_dead_letters)
