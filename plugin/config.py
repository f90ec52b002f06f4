"""The deployment's configuration: `ESCALATOR_CONFIG` (a JSON file) and `REDIS_URL`.

Any string may be `{"env": "NAME"}`, so secrets live in the environment, never in the file. Problems are
reported with their JSON path, like rules files.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from escalator.connectors.base import TenantSettings
from escalator.connectors.registry import CONNECTORS
from escalator.rules.durations import DurationError, parse_duration
from escalator.rules.errors import child

DEFAULT_RECONCILE_SECONDS = 300.0
"""A reconciliation pass every five minutes: a dropped webhook is caught up within minutes, at the cost of
one export call per pass when nothing was dropped."""


class ConfigError(Exception):
    """An unusable configuration; the message lists every problem as `$.path: message`."""


@dataclass(frozen=True)
class TenantConfig:
    name: str
    vendor: str
    base_url: str
    auth: Mapping[str, str]
    webhook_secret: str
    rules_path: Path
    rate_limit: Mapping[str, int]
    options: Mapping[str, Any] = field(default_factory=dict)
    """The settings only this tenant's vendor has (its connector's `settings_schema` keys), e.g.
    `{"freshdesk": {"statuses": {"6": "on_hold"}}}`."""
    reconcile_every: float | None = DEFAULT_RECONCILE_SECONDS
    """Seconds between reconciliation passes in the workers; None when the admin turned it off."""
    env_names: Mapping[str, str] = field(default_factory=dict)
    """Setting (`webhook_secret`, `auth.api_token`, ...) -> the environment variable it is read from, so the
    admin commands can say which variable to set without ever printing a secret."""
    subdomain: str | None = None
    """The `subdomain` setting as written (None when only base_url was given): the help desk's own name for
    the account (Zendesk signs its app tokens as `<subdomain>.zendesk.com` wherever base_url points)."""

    def settings(self) -> TenantSettings:
        """What the tenant's connector is told (it knows nothing of this module)."""
        return TenantSettings(self.name, self.base_url, self.auth, self.webhook_secret, self.options)


@dataclass(frozen=True)
class Config:
    tenants: Mapping[str, TenantConfig]
    public_url: str = "http://127.0.0.1:8000"
    path: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    admin_token: str | None = None
    """The bearer token of the admin API and the dashboard; None (not configured): those answer 404."""

    def webhook_url(self, tenant: str) -> str:
        return f"{self.public_url.rstrip('/')}/webhooks/{self.tenants[tenant].vendor}/{tenant}"


def config_schema() -> dict[str, Any]:
    """The configuration's JSON Schema: `config_schema.json`, with the vendors and their own settings filled in
    from the connector registry (a registered connector is a valid `vendor` with its settings at once)."""
    schema = copy.deepcopy(_base_schema())
    tenant = schema["$defs"]["tenant"]
    tenant["properties"]["vendor"]["enum"] = sorted(CONNECTORS)
    for connector in CONNECTORS.values():
        for key, setting in connector.settings_schema.items():
            tenant["properties"][key] = dict(setting)
    return schema


@cache
def _base_schema() -> dict[str, Any]:
    text = resources.files("escalator.plugin").joinpath("config_schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@dataclass
class _Resolver:
    env: Mapping[str, str]
    optional: Collection[str]
    problems: list[str]
    names: dict[str, str] = field(default_factory=dict)
    """JSON path -> environment variable name, for every {"env": NAME} met."""

    def resolve(self, value: Any, path: str) -> Any:
        """Replace every {"env": NAME} by the variable's value; a missing variable is a problem, not '' (unless
        the setting is one the caller can do without, such as the webhook secret `install` is about to read)."""
        if isinstance(value, dict):
            if set(value) == {"env"}:
                name = value["env"]
                self.names[path] = name
                if not self.env.get(name):
                    if path.rsplit(".", 1)[-1] not in self.optional:
                        self.problems.append(f"{path}: environment variable {name} is not set")
                    return ""
                return self.env[name]
            return {key: self.resolve(item, child(path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item, child(path, i)) for i, item in enumerate(value)]
        return value


def _env_names(names: Mapping[str, str], tenant_path: str) -> dict[str, str]:
    prefix = tenant_path + "."
    return {path.removeprefix(prefix): name for path, name in names.items() if path.startswith(prefix)}


def _reconcile_every(setting: Mapping[str, Any], path: str, problems: list[str]) -> float | None:
    path = child(path, "every")
    text = setting.get("every")
    if text is None:
        return DEFAULT_RECONCILE_SECONDS
    if str(text).strip().lower() == "off":
        return None
    try:
        return parse_duration(str(text))
    except DurationError as error:
        problems.append(f'{path}: {error} (or "off")')
        return None


def _url_problem(value: Any) -> str | None:
    """jsonschema does not check `format: uri` without extra packages: an address must be http(s) with a host."""
    if not isinstance(value, str) or not value:
        return None  # an {"env": ...} reference, checked once resolved
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{value}' is not an http(s) address such as https://escalator.acme.example"
    return None


def _address_problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return []
    found = []
    problem = _url_problem(data.get("public_url"))
    if problem:
        found.append(f"$.public_url: {problem}")
    tenants = data.get("tenants")
    for name, tenant in tenants.items() if isinstance(tenants, dict) else ():
        problem = _url_problem(tenant.get("base_url")) if isinstance(tenant, dict) else None
        if problem:
            found.append(f"{child(child('$.tenants', name), 'base_url')}: {problem}")
    return found


class _AnyEnv(dict[str, str]):
    """An environment in which every variable is set: `escalator validate` checks a file, not its secrets."""

    def get(self, key: str, default: Any = None) -> str:
        return f"<{key}>"

    def __getitem__(self, key: str) -> str:
        return f"<{key}>"


def parse_config(
    data: Any, base_dir: Path, env: Mapping[str, str] | None = None, *, optional_env: Collection[str] = ()
) -> Config:
    """`optional_env`: settings (by name, e.g. `webhook_secret`) whose unset variable reads as empty instead of
    refusing the file: `escalator install` runs before the admin has the webhook's signing secret."""
    env = os.environ if env is None else env
    problems = [
        f"{error.json_path}: {error.message}" for error in Draft202012Validator(config_schema()).iter_errors(data)
    ]
    problems += _address_problems(data)
    if problems:
        raise ConfigError("\n".join(sorted(problems)))
    resolver = _Resolver(env, optional_env, problems)
    resolved = resolver.resolve(data, "$")
    tenants: dict[str, TenantConfig] = {}
    for name, tenant in resolved["tenants"].items():
        path = child("$.tenants", name)
        vendor = tenant["vendor"]
        connector = CONNECTORS[vendor]
        base_url = tenant.get("base_url") or (
            connector.default_host.format(tenant["subdomain"]) if tenant.get("subdomain") else ""
        )
        if not base_url:
            problems.append(f"{path}: give base_url or subdomain")
        auth = tenant["auth"]
        problems += [f"{child(path, 'auth')}: {problem}" for problem in connector.auth_problems(auth)]
        for other in CONNECTORS.values():
            for key in set(other.settings_schema) - set(connector.settings_schema):
                if key in tenant:
                    problems.append(f"{child(path, key)}: only a {other.display_name} tenant takes these settings")
        rules_path = (base_dir / tenant["rules"]).resolve()
        if not rules_path.is_file():
            problems.append(f"{child(path, 'rules')}: no rules file at {rules_path}")
        tenants[name] = TenantConfig(
            name=name,
            vendor=vendor,
            base_url=base_url.rstrip("/"),
            auth=auth,
            webhook_secret=tenant["webhook_secret"],
            rules_path=rules_path,
            rate_limit={**connector.default_rate_limit, **tenant.get("rate_limit", {})},
            options={key: tenant[key] for key in connector.settings_schema if key in tenant},
            reconcile_every=_reconcile_every(tenant.get("reconcile", {}), child(path, "reconcile"), problems),
            env_names=_env_names(resolver.names, path),
            subdomain=tenant.get("subdomain") or None,
        )
    if problems:
        raise ConfigError("\n".join(problems))
    return Config(
        tenants=tenants,
        public_url=resolved.get("public_url", "http://127.0.0.1:8000"),
        admin_token=resolved.get("admin_token") or None,
    )


def load_config(
    path: str | Path, env: Mapping[str, str] | None = None, *, optional_env: Collection[str] = ()
) -> Config:
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{file}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{file}: not valid JSON: {error.msg} (line {error.lineno})") from None
    config = parse_config(data, file.parent, env, optional_env=optional_env)
    return replace(config, path=file)


def check_config_file(path: str | Path) -> list[Path]:
    """Check a configuration file as `escalator validate` does (every problem with its JSON path; environment
    references taken as set) and return the rules files it names."""
    config = load_config(path, _AnyEnv())
    return sorted({tenant.rules_path for tenant in config.tenants.values()})
