"""`escalator`: the command line. Each area's commands live in `plugin/commands/`; this module builds the parser
and turns every failure into one line and an exit code (DESIGN §3), with a traceback only under `-v`."""

from __future__ import annotations

import argparse
import logging
import traceback
from collections.abc import Sequence

import redis

from escalator import __version__
from escalator.connectors.admin import AccessProblem
from escalator.connectors.errors import VendorError
from escalator.plugin.commands import admin, app, history, incidents, reports, rules, service, tickets
from escalator.plugin.commands.common import (
    EXIT_DESK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    CommandFailed,
    fail,
    redis_failure,
)
from escalator.plugin.connection import RedisUrlError

AREAS = (service, rules, admin, reports, tickets, incidents, app, history)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escalator",
        description="Support-ticket escalation for Zendesk and Freshdesk: tiers, triggers, SLAs to the second.",
        epilog="exit codes: 0 ok, 1 problems found, 2 usage or configuration, 3 Redis unreachable, "
        "4 help desk unreachable or refusing our credentials",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what every rule decides; tracebacks")
    parser.add_argument("--version", action="version", version=f"escalator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for area in AREAS:
        area.register(commands)
    return parser


def _desk_failure(error: VendorError) -> tuple[str, int]:
    if isinstance(error, AccessProblem):
        return f"the help desk refused our credentials: {error}", EXIT_DESK
    if error.status in (401, 403):
        return f"the help desk refused our credentials ({error}); check the tenant's auth settings", EXIT_DESK
    if error.status == 0 or error.status >= 500 or error.status == 429:
        return f"the help desk is unreachable or unavailable ({error}); try again later", EXIT_DESK
    return f"the help desk refused a request: {error}", EXIT_PROBLEM


def explain(error: BaseException) -> tuple[str, int]:
    """The one line and exit code for a failure that escaped a command."""
    if isinstance(error, CommandFailed):
        return str(error), error.code
    if isinstance(error, redis.RedisError):
        failure = redis_failure(error)
        return str(failure), failure.code
    if isinstance(error, RedisUrlError):
        return str(error), EXIT_USAGE
    if isinstance(error, AccessProblem):
        return f"the help desk refused us: {error}", EXIT_DESK
    if isinstance(error, VendorError):
        return _desk_failure(error)
    return f"unexpected error: {type(error).__name__}: {error} (run with -v for the traceback)", EXIT_PROBLEM


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
        message, code = explain(error)
        return fail(message, code)


if __name__ == "__main__":
    raise SystemExit(main())
