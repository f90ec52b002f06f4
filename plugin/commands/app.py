"""`escalator app package TENANT`: the Zendesk app (the agent sidebar) as the zip an admin uploads.

Needs the configuration only (the deployment's public_url and the tenant), never Redis or the help desk.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from escalator.plugin.commands.common import EXIT_OK, config_from_env, known_tenant, reads, stop


def cmd_app_package(args: argparse.Namespace) -> int:
    from escalator.connectors.registry import connector_for
    from escalator.plugin.zendesk_app import SETTINGS_KEY, package, sidebar_url, url_problem

    config = config_from_env()
    known_tenant(config, args.tenant)
    tenant = config.tenants[args.tenant]
    if SETTINGS_KEY not in connector_for(tenant.vendor).settings_schema:
        stop(f"tenant '{args.tenant}' is on {tenant.vendor}: the sidebar app is for Zendesk tenants")
    url = sidebar_url(config.public_url, args.tenant)
    problem = url_problem(url)
    if problem:
        stop(f"{problem}; set public_url in the configuration to the deployment's https address")
    out = Path(args.out or f"escalator-{args.tenant}-zendesk-app.zip")
    try:
        out.write_bytes(package(args.tenant, config.public_url))
    except OSError as error:
        stop(f"cannot write {out}: {error.strerror}")
    print(f"{out}: the Escalator app for {args.tenant}, its sidebar at {url}")
    print(
        "next: upload it in Zendesk (Admin Center > Apps and integrations > Zendesk Support apps > "
        f"Upload private app), install it, then run `escalator install {args.tenant}` for its zendesk_app settings"
    )
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    app = commands.add_parser(
        "app",
        help="the Zendesk app: the agent sidebar showing each ticket's escalation",
        description="The Zendesk app agents see beside a ticket: its tier or team, escalation trail, SLA "
        "countdowns and what Escalator will do next.",
        epilog=reads("config"),
    )
    actions = app.add_subparsers(dest="app_command", required=True, metavar="ACTION")
    pack = actions.add_parser(
        "package",
        help="write the app's zip for a tenant, its sidebar address filled in from public_url",
        description="Writes the zip to upload as a private app in Zendesk (manifest.json, translations, "
        "logos), its sidebar at <public_url>/apps/zendesk/<tenant>/sidebar. Needs no Redis.",
        epilog=reads("config"),
    )
    pack.add_argument("tenant")
    pack.add_argument("--out", help="where to write the zip (default: escalator-<tenant>-zendesk-app.zip)")
    pack.set_defaults(run=cmd_app_package)
