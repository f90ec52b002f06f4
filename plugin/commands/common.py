"""What every `escalator` command shares: exit codes, one-line failures, configuration and Redis from the
environment.

Exit codes (DESIGN §3): 0 success; 1 a check found problems; 2 usage or configuration error; 3 Redis
unreachable; 4 the help desk unreachable or refusing our credentials. A failure is one line on stderr naming
what failed and what to do; a traceback only with `-v`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NoReturn, TextIO

import redis

from escalator.plugin.config import Config
from escalator.plugin.exitcodes import EXIT_DESK, EXIT_OK, EXIT_PROBLEM, EXIT_REDIS, EXIT_USAGE
from escalator.rules.durations import DurationError, parse_duration
from escalator.rules.errors import PolicyError
from escalator.rules.model import parse_instant

if TYPE_CHECKING:
    from escalator.rules.policy import Policy

__all__ = ["EXIT_DESK", "EXIT_OK", "EXIT_PROBLEM", "EXIT_REDIS", "EXIT_USAGE"]

CONFIG_ENV = "ESCALATOR_CONFIG"
REDIS_ENV = "REDIS_URL"

ENV_HELP = {
    "config": f"{CONFIG_ENV} (the configuration file)",
    "redis": f"{REDIS_ENV} (the deployment's Redis: redis://, rediss://, redis+cluster://, redis+sentinel://)",
    "secrets": 'and the variables the configuration names with {"env": ...}',
}


def reads(*names: str) -> str:
    """The `reads:` line of a command's help (argparse epilog)."""
    return "environment: " + ", ".join(ENV_HELP[name] for name in names)


class CommandFailed(Exception):
    """A failure to report as one line with an exit code (raised anywhere below a command)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"escalator: {message}", file=sys.stderr)
    return code


def stop(message: str, code: int = EXIT_USAGE) -> NoReturn:
    raise SystemExit(fail(message, code))


def config_from_env(optional_env: Collection[str] = ()) -> Config:
    from escalator.plugin.config import ConfigError, load_config

    path = os.environ.get(CONFIG_ENV)
    if not path:
        stop(f"set {CONFIG_ENV} to your configuration file (see README), or try `escalator demo`")
    try:
        return load_config(path, optional_env=optional_env)
    except ConfigError as error:
        stop(f"invalid configuration {path}:\n{error}")


def known_tenant(config: Config, tenant: str) -> None:
    if tenant not in config.tenants:
        stop(f"no tenant '{tenant}' in the configuration (tenants: {', '.join(sorted(config.tenants))})")


def redis_url(purpose: str) -> str:
    """REDIS_URL, or a usage error saying why this command needs it."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        stop(f"set {REDIS_ENV}: {purpose}")
    return url


def connect_checked(url: str, role: str) -> redis.Redis:
    """A client for `role`, proven reachable now: a command that needs Redis says so at once (exit 3)."""
    from escalator.plugin.connection import RedisUrlError, connect

    try:
        client = connect(url, role)
        client.ping()
    except RedisUrlError as error:
        stop(str(error))
    return client


def redis_failure(error: redis.RedisError) -> CommandFailed:
    from escalator.plugin.connection import describe

    where = describe(os.environ.get(REDIS_ENV, ""))
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return CommandFailed(f"cannot reach Redis at {where} ({first}); start it or fix {REDIS_ENV}", EXIT_REDIS)


Handler = Callable[[argparse.Namespace], int]


# --- argument types and rules files shared by several commands ---------------------------------------------


def _instant_or_none(text: str) -> datetime | None:
    try:
        return parse_instant(text)
    except ValueError:
        return None


def instant_arg(text: str) -> datetime:
    """An ISO 8601 instant (argparse `type`)."""
    value = _instant_or_none(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 instant (e.g. 2026-03-06T21:30:00Z)")
    return value


def since_arg(example: str) -> Callable[[str], datetime]:
    """An argparse `type`: an ISO 8601 instant, or a duration back from now (`30d`, `12h`); `example` is the
    duration the error message suggests (the option's default)."""

    def since(text: str) -> datetime:
        instant = _instant_or_none(text)
        if instant is None:
            try:
                seconds = parse_duration(text)
            except DurationError:
                raise argparse.ArgumentTypeError(
                    f"'{text}' is neither an ISO 8601 instant nor a duration such as {example}"
                ) from None
            instant = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds)
        return instant

    return since


def load_rules_reporting(path: str, stream: TextIO, label: str | None = None) -> Policy | None:
    """The rules file's policy, or None after writing one line per problem to `stream` (as `validate` does)."""
    from escalator.rules.loader import load_policy_file  # the loader's schema work only when a command needs it

    try:
        return load_policy_file(path)
    except PolicyError as error:
        for problem in error.problems:
            print(problem.format(label or path), file=stream)
        return None
