"""`escalator why TENANT TICKET [--json]`: one ticket's escalation trail, SLA clocks and what comes next.

The same data as the escalation JSON endpoint (plugin.explain builds both); the text adds the journal's
reasons, every rule that fired or was held back on the ticket.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from escalator.plugin.commands.common import (
    EXIT_OK,
    EXIT_PROBLEM,
    config_from_env,
    connect_checked,
    fail,
    known_tenant,
    reads,
    redis_url,
    stop,
)


def cmd_why(args: argparse.Namespace) -> int:
    from escalator.plugin.explain import load
    from escalator.plugin.explain_text import format_text
    from escalator.rules.errors import PolicyError
    from escalator.rules.loader import load_policy_file

    config = config_from_env()
    known_tenant(config, args.tenant)
    path = config.tenants[args.tenant].rules_path
    try:
        policy = load_policy_file(path)
    except PolicyError as error:
        stop(f"the rules file of {args.tenant} ({path}) is invalid: {error}; run `escalator validate {path}`")
    client = connect_checked(redis_url("the tickets' state is in the deployment's Redis"), "commands")
    now = datetime.now(UTC)
    found = load(client, policy, args.tenant, args.ticket, now)
    if found is None:
        return fail(
            f"Escalator has no record of ticket {args.ticket} of {args.tenant}: check the id, or import open "
            f"tickets with `escalator backfill {args.tenant}`",
            EXIT_PROBLEM,
        )
    print(json.dumps(found.to_json(), indent=2) if args.json else format_text(args.tenant, found, policy, now))
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    why = commands.add_parser(
        "why",
        help="a ticket's escalation trail: every decision with its rule or agent, reason and time",
        description="Explains one ticket: where it is (tier or team, group, assignee, owner), every move with "
        "the rule or agent behind it, the reason and the time, the journal of decisions (what fired, what was "
        "held back and why), its SLA clocks and deadlines, and what Escalator will do next. --json prints the "
        "escalation JSON of the HTTP API.",
        epilog=reads("config", "redis"),
    )
    why.add_argument("tenant")
    why.add_argument("ticket", help="the ticket's id in the help desk")
    why.add_argument("--json", action="store_true", help="machine-readable output (the escalation JSON)")
    why.set_defaults(run=cmd_why)
