"""`escalator install TENANT [--dry-run] [--show-secret]`: set up the help desk's side, idempotently.

One line per check or action, `ok` / `create` / `update` / `next` / `error` first, so a run reads as a log
and a second run shows that nothing was left to do. Exit 0 when the help desk side is ready (perhaps with a
`next:` step only the admin can take), 1 when something must be fixed there or in the configuration, 4 when
the help desk is unreachable or refuses our credentials.

Here: the credentials (and rights), and the groups the rules name. Then the vendor's own set-up, which its
connector owns (`DeskAdmin.install`): Zendesk's webhook and its signing secret, Freshdesk's automation rules.
Secrets are never written anywhere and shown only as their last four characters unless `--show-secret`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from escalator.connectors.admin import AccessProblem, masked
from escalator.connectors.base import InstallStep
from escalator.connectors.errors import VendorError
from escalator.plugin.admin import EXIT_DESK, EXIT_OK, EXIT_PROBLEM, desk_admin, say
from escalator.plugin.runtime import Runtime
from escalator.rules.policy import Policy

__all__ = ["Install", "masked"]


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
        connector = self.runtime.connector(self.tenant)
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
        for note in (*identity.notes, *connector.auth_warnings(config.auth)):
            self.line("warn", note)
        try:
            if not self.check_groups(admin.groups(), self.runtime.policy(self.tenant)):
                return EXIT_PROBLEM  # nothing is set up until the rules' groups exist
            admin.install(
                InstallStep(
                    tenant=self.tenant,
                    settings=config.settings(),
                    webhook_url=self.runtime.config.webhook_url(self.tenant),
                    dry_run=self.dry_run,
                    show_secret=self.show_secret,
                    env_names=config.env_names,
                    line=self.line,
                    problem=self.problem,
                )
            )
        except AccessProblem as problem:
            self.problem(str(problem))
        except VendorError as error:
            self.problem(f"{config.vendor} refused: {error}")
        return EXIT_PROBLEM if self.problems else EXIT_OK

    def check_groups(self, groups: Mapping[str, str], policy: Policy) -> bool:
        """Every group a tier, team or lead names exists (by name, any case, or by id)."""
        names = {name.casefold() for name in groups.values()}
        wanted = [str(unit.group) for unit in (*policy.tiers, *policy.teams, *policy.leads)]
        missing = [group for group in wanted if group not in groups and group.casefold() not in names]
        if missing:
            self.problem(f"groups missing in the help desk (create them, or fix the rules): {', '.join(missing)}")
            return False
        self.line("ok", f"groups: {', '.join(wanted)}")
        return True
