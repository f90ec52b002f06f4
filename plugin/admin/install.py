"""`escalator install TENANT [--dry-run] [--show-secret]`: set up the help desk's side, idempotently.

One line per check or action, `ok` / `create` / `update` / `next` / `error` first, so a run reads as a log
and a second run shows that nothing was left to do. Exit 0 when the help desk side is ready (perhaps with a
`next:` step only the admin can take), 1 when something must be fixed there or in the configuration.

Zendesk: the credentials (and admin rights), the groups the rules name, the event-subscription webhook to
`<public_url>/webhooks/zendesk/<tenant>` (found by endpoint or name, created or brought up to date), and its
signing secret compared with the configured `webhook_secret`. Secrets are never written anywhere and shown
only as their last four characters unless `--show-secret` is given.

Freshdesk: the credentials and the groups, then the two automation rules for the admin to create by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from escalator.connectors.admin import AccessProblem
from escalator.connectors.errors import VendorError
from escalator.connectors.freshdesk.admin import FreshdeskAdmin, automation_rules
from escalator.connectors.zendesk.admin import WEBHOOK_EVENTS, ZendeskAdmin, webhook_changes, webhook_spec
from escalator.plugin.admin import EXIT_DESK, EXIT_OK, EXIT_PROBLEM, desk_admin, say
from escalator.plugin.runtime import Runtime
from escalator.rules.policy import Policy

SECRET_TAIL = 4


def masked(secret: str) -> str:
    """`…k3Zq, 43 characters`: enough to tell two secrets apart, not enough to use one."""
    if not secret:
        return "empty"
    return f"…{secret[-SECRET_TAIL:]}, {len(secret)} characters" if len(secret) > 2 * SECRET_TAIL else "hidden"


@dataclass
class Install:
    runtime: Runtime
    tenant: str
    out: TextIO
    dry_run: bool = False
    show_secret: bool = False
    problems: list[str] = field(default_factory=list)

    def line(self, tag: str, text: str) -> None:
        say(self.out, f"{tag:<7} {text}")

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.line("error", text)

    def run(self) -> int:
        config = self.runtime.tenant(self.tenant)
        mode = " (dry run: nothing will be changed)" if self.dry_run else ""
        say(self.out, f"escalator install {self.tenant}: {config.vendor} at {config.base_url}{mode}")
        admin = desk_admin(self.runtime, self.tenant)
        try:
            identity = admin.whoami()
        except AccessProblem as problem:
            self.problem(str(problem))
            return EXIT_DESK if problem.kind == "credentials" else EXIT_PROBLEM
        except VendorError as error:
            self.problem(f"cannot reach {config.base_url}: {error}")
            return EXIT_DESK
        self.line("ok", f"credentials: {identity.email or identity.name} ({identity.role})")
        for note in identity.notes:
            self.line("warn", note)
        oauth = config.auth.get("oauth_token") or config.auth.get("refresh_token")
        if config.vendor == "zendesk" and config.auth.get("api_token") and not oauth:
            self.line(
                "warn", "Zendesk API tokens stop working on 2027-04-30: move this tenant to OAuth (auth.oauth_token)"
            )
        try:
            if not self.check_groups(admin.groups(), self.runtime.policy(self.tenant)):
                return EXIT_PROBLEM  # nothing is set up until the rules' groups exist
            if isinstance(admin, ZendeskAdmin):
                self.zendesk(admin)
            elif isinstance(admin, FreshdeskAdmin):
                self.freshdesk()
        except AccessProblem as problem:
            self.problem(str(problem))
        except VendorError as error:
            self.problem(f"{config.vendor} refused: {error}")
        return EXIT_PROBLEM if self.problems else EXIT_OK

    def check_groups(self, groups: Mapping[str, str], policy: Policy) -> bool:
        """Every group a tier or team names exists (by name, any case, or by id)."""
        names = {name.casefold() for name in groups.values()}
        wanted = [str(unit.group) for unit in (*policy.tiers, *policy.teams)]
        missing = [group for group in wanted if group not in groups and group.casefold() not in names]
        if missing:
            self.problem(f"groups missing in the help desk (create them, or fix the rules): {', '.join(missing)}")
            return False
        self.line("ok", f"groups: {', '.join(wanted)}")
        return True

    # --- Zendesk -----------------------------------------------------------------------------------------------

    def zendesk(self, admin: ZendeskAdmin) -> None:
        endpoint = self.runtime.config.webhook_url(self.tenant)
        spec = webhook_spec(self.tenant, endpoint)
        existing = admin.find_webhook(self.tenant, endpoint)
        events = f"{len(WEBHOOK_EVENTS)} ticket events"
        if existing is None:
            self.line(
                "create", f'webhook "{spec["name"]}" -> {endpoint} ({events}){" would be created" * self.dry_run}'
            )
            if self.dry_run:
                self.line("next", "run without --dry-run, then set the webhook's signing secret")
                return
            existing = admin.create_webhook(spec)
        else:
            changes = webhook_changes(existing, spec)
            described = ", ".join(_describe(key, existing.get(key), value) for key, value in changes.items())
            if changes:
                self.line("update", f"webhook {existing['id']}: {described}{' would be changed' * self.dry_run}")
                if not self.dry_run:
                    admin.update_webhook(str(existing["id"]), changes)
            else:
                self.line("ok", f'webhook "{existing.get("name")}" ({existing["id"]}) -> {endpoint} ({events})')
        self.signing_secret(admin.signing_secret(str(existing["id"])))

    def signing_secret(self, secret: str) -> None:
        config = self.runtime.tenant(self.tenant)
        variable = config.env_names.get("webhook_secret")
        where = f"the environment variable {variable}" if variable else "webhook_secret in the configuration"
        shown = secret if self.show_secret else masked(secret)
        if config.webhook_secret == secret:
            self.line("ok", f"{where} holds the webhook's signing secret")
            return
        if config.webhook_secret:
            self.problem(f"{where} does not hold the webhook's signing secret ({shown}): deliveries would get 401")
        else:
            self.line("next", f"set {where} to the webhook's signing secret ({shown}), then restart serve")
        if not self.show_secret:
            self.line("next", "run again with --show-secret to print the secret (nothing is written to disk)")

    # --- Freshdesk ---------------------------------------------------------------------------------------------

    def freshdesk(self) -> None:
        config = self.runtime.tenant(self.tenant)
        url = self.runtime.config.webhook_url(self.tenant)
        if not url.startswith("https://"):
            self.line("warn", f"{url} is not https: Freshdesk never follows a redirect, so use the https address")
        secret = config.webhook_secret
        variable = config.env_names.get("webhook_secret")
        if not secret:
            self.problem(f"set webhook_secret{f' ({variable})' if variable else ''} to a long random string first")
            return
        shown = secret if self.show_secret else f"<the value of {variable or 'webhook_secret'}>"
        self.line("manual", "Freshdesk's public API cannot create automation rules reliably: create these two")
        for text in automation_rules(url, shown):
            say(self.out, f"        {text}")


def _describe(key: str, before: object, after: object) -> str:
    if key == "subscriptions":
        return f"subscriptions -> {len(after) if isinstance(after, list) else after} ticket events"
    return f"{key} {before!r} -> {after!r}"
