"""`escalator incident open|close|list TENANT`: mass incidents by hand (DESIGN §5 `incidents`).

Opening and closing only change the records in Redis and wake the incident's next step: the workers make
the problem ticket and send the messages, within the tenant's rate budget, as they do for a detected one.
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
from escalator.plugin.incidents.service import schedule
from escalator.plugin.incidents.store import IncidentStore
from escalator.plugin.runtime import Runtime


def _open(args: argparse.Namespace) -> tuple[IncidentStore, Runtime]:
    config = config_from_env()
    known_tenant(config, args.tenant)
    client = connect_checked(redis_url("incidents live in the deployment's Redis"), "commands")
    return IncidentStore(client, args.tenant), Runtime(config, client)


def cmd_list(args: argparse.Namespace) -> int:
    store, _ = _open(args)
    incidents = store.all()
    if args.json:
        print(json.dumps([json.loads(incident.to_json()) for incident in incidents], indent=2))
        return EXIT_OK
    if not incidents:
        print(f"no incidents for {args.tenant}")
    for incident in incidents:
        counts = incident.counts or store.counts(incident.id)
        print(
            f"{incident.id}  {incident.status:<9} rule {incident.rule}, opened {incident.opened_at} by "
            f"{incident.opened_by}, problem #{incident.problem_id or '-'}, {counts.get('pending', 0)} waiting, "
            f"{counts.get('notified', 0)} told, {counts.get('resolved', 0)} resolved"
        )
    return EXIT_OK


def cmd_open(args: argparse.Namespace) -> int:
    store, runtime = _open(args)
    policy = runtime.policy(args.tenant)
    if policy.incident_rule(args.rule) is None:
        known = ", ".join(rule.id for rule in policy.incidents) or "none"
        stop(f"{args.tenant} has no incident rule '{args.rule}' (its rules file has: {known})")
    try:
        incident = store.open_by_hand(args.rule, datetime.now(UTC), args.note or "")
    except ValueError as error:
        return fail(str(error), EXIT_PROBLEM)
    schedule(runtime.timers(args.tenant), args.tenant, incident.id, 0.0)
    print(f"opened incident {incident.id}: a worker makes its problem ticket now; matching tickets join it")
    return EXIT_OK


def cmd_close(args: argparse.Namespace) -> int:
    store, runtime = _open(args)
    incident = store.get(args.incident)
    if incident is None or incident.status == "closed":
        return fail(
            f"{args.tenant} has no open incident '{args.incident}' (see `escalator incident list`)", EXIT_PROBLEM
        )
    if args.resolve:
        store.resolving(incident.id)
        schedule(runtime.timers(args.tenant), args.tenant, incident.id, 0.0)
        print(f"incident {incident.id} resolving: each of its tickets gets the resolution message")
    else:
        store.close(incident, datetime.now(UTC).replace(microsecond=0))
        print(f"incident {incident.id} closed without messages; new tickets no longer join it")
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    incident = commands.add_parser(
        "incident",
        help="mass incidents: list them, open one by hand, close one",
        description="Mass incidents (rules file `incidents`): one problem ticket for many tickets, their "
        "customers told in bulk. Detected incidents open by themselves; these commands list them and open or "
        "close one by hand.",
        epilog=reads("config", "redis"),
    )
    actions = incident.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every incident of a tenant, newest last")
    listing.add_argument("tenant")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(run=cmd_list)
    opening = actions.add_parser("open", help="open an incident of one of the tenant's incident rules")
    opening.add_argument("tenant")
    opening.add_argument("rule", help="the incident rule's id (rules file, `incidents[].id`)")
    opening.add_argument("--note", help="why, kept in the incident's record")
    opening.set_defaults(run=cmd_open)
    closing = actions.add_parser("close", help="close an incident: --resolve sends its tickets the resolution")
    closing.add_argument("tenant")
    closing.add_argument("incident", help="the incident's id (see `incident list`)")
    closing.add_argument("--resolve", action="store_true", help="send each ticket the resolution message first")
    closing.set_defaults(run=cmd_close)
