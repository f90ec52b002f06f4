"""Freshdesk's numbers <-> Escalator's common values, and the tenant setting that maps custom statuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from escalator.connectors.base import Services
from escalator.connectors.freshdesk import FreshdeskConnector, values
from escalator.connectors.freshdesk.api import FreshdeskClient
from escalator.plugin.config import ConfigError, config_schema, parse_config
from escalator.rules.model import PRIORITIES, STATUSES

CUSTOM = {"6": "on_hold", "7": "pending", "8": "open"}


@pytest.mark.parametrize(("number", "name"), [(1, "low"), (2, "normal"), (3, "high"), (4, "urgent")])
def test_priorities_both_ways(number: int, name: str) -> None:
    assert values.priority(number) == name and values.priority(str(number)) == name
    assert values.freshdesk_priority(name) == number


def test_every_common_priority_has_a_freshdesk_number() -> None:
    assert set(values.PRIORITY_TO_FRESHDESK) == set(PRIORITIES)


@pytest.mark.parametrize("value", [None, 0, 5, "Medium", "", True])
def test_unknown_priorities_are_none(value: object) -> None:
    assert values.priority(value) is None


@pytest.mark.parametrize(("number", "name"), [(2, "open"), (3, "pending"), (4, "solved"), (5, "closed")])
def test_built_in_statuses(number: int, name: str) -> None:
    assert values.status(number) == name and values.status(str(number), CUSTOM) == name


def test_there_is_no_new_in_freshdesk_a_fresh_ticket_is_open() -> None:
    assert "new" not in values.BUILT_IN_STATUSES.values() and values.status(2) == "open"


@pytest.mark.parametrize(("number", "name"), [(6, "on_hold"), (7, "pending"), (8, "open"), ("6", "on_hold")])
def test_custom_statuses_follow_the_tenants_mapping(number: int | str, name: str) -> None:
    assert values.status(number, CUSTOM) == name


@pytest.mark.parametrize("mapping", [None, {}, {"7": "pending"}, {"6": "solved"}, {"6": "nonsense"}])
def test_unmapped_or_impossible_custom_statuses_count_as_open(mapping: dict[str, str] | None) -> None:
    assert values.status(6, mapping) == "open"


def test_built_in_statuses_cannot_be_remapped() -> None:
    assert values.status(4, {"4": "pending"}) == "solved"


def test_every_status_a_mapping_may_name_is_a_common_status() -> None:
    assert set(values.CUSTOM_STATUS_VALUES) <= set(STATUSES)
    assert set(values.BUILT_IN_STATUSES.values()) <= set(STATUSES)


@pytest.mark.parametrize(("raw", "expected"), [(43000187500, "43000187500"), ("12", "12"), (0, None), ("", None)])
def test_ids(raw: object, expected: str | None) -> None:
    assert values.freshdesk_id(raw) == expected


@pytest.mark.parametrize(("text", "ok"), [("4821", True), ("", False), ("48a", False), ("²", False), ("-1", False)])
def test_ticket_ids_are_ascii_digits(text: str, ok: bool) -> None:
    assert values.is_ticket_id(text) is ok


# --- the tenant setting ------------------------------------------------------------------------------------


def config(tmp_path: Path, **tenant: Any) -> dict[str, Any]:
    rules = tmp_path / "rules.json"
    rules.write_text("{}")
    base = {"vendor": "freshdesk", "subdomain": "globex", "auth": {"api_key": "k"}, "webhook_secret": "s"}
    return {"tenants": {"globex": {**base, "rules": "rules.json", **tenant}}}


def test_the_schemas_status_choices_are_the_connectors() -> None:
    statuses = config_schema()["$defs"]["tenant"]["properties"]["freshdesk"]["properties"]["statuses"]
    assert statuses["additionalProperties"]["enum"] == list(values.CUSTOM_STATUS_VALUES)


def test_custom_statuses_reach_the_client(tmp_path: Path) -> None:
    parsed = parse_config(config(tmp_path, freshdesk={"statuses": {"6": "on_hold", "12": "pending"}}), tmp_path, {})
    tenant = parsed.tenants["globex"]
    assert tenant.base_url == "https://globex.freshdesk.com"
    settings = tenant.settings()
    assert settings.options["freshdesk"] == {"statuses": {"6": "on_hold", "12": "pending"}}
    client = FreshdeskConnector().client(settings, Services())
    assert isinstance(client, FreshdeskClient) and client.statuses == {"6": "on_hold", "12": "pending"}
    assert str(client.http.session.headers["Authorization"]).startswith("Basic ")


def test_a_tenant_without_freshdesk_settings_has_none(tmp_path: Path) -> None:
    settings = parse_config(config(tmp_path), tmp_path, {}).tenants["globex"].settings()
    assert "freshdesk" not in settings.options
    assert FreshdeskConnector().client(settings, Services()).statuses == {}


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"statuses": {"4": "pending"}}, "$.tenants.globex.freshdesk.statuses"),  # built-in: not remappable
        ({"statuses": {"06": "pending"}}, "$.tenants.globex.freshdesk.statuses"),
        ({"statuses": {"six": "pending"}}, "$.tenants.globex.freshdesk.statuses"),
        ({"statuses": {"6": "solved"}}, "$.tenants.globex.freshdesk.statuses['6']"),
        ({"statuses": {"6": "hold"}}, "$.tenants.globex.freshdesk.statuses['6']"),
        ({"status": {"6": "pending"}}, "$.tenants.globex.freshdesk"),
    ],
)
def test_bad_settings_are_refused_with_their_path(tmp_path: Path, settings: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(config(tmp_path, freshdesk=settings), tmp_path, {})
    assert str(refused.value).startswith(path) or f"\n{path}" in str(refused.value)


def test_freshdesk_settings_on_a_zendesk_tenant_are_refused(tmp_path: Path) -> None:
    data = config(tmp_path, freshdesk={"statuses": {"6": "pending"}})
    data["tenants"]["globex"].update(vendor="zendesk", auth={"email": "a@b.example", "api_token": "t"})
    with pytest.raises(ConfigError) as refused:
        parse_config(data, tmp_path, {})
    assert "$.tenants.globex.freshdesk: only a Freshdesk tenant" in str(refused.value)


def test_the_example_in_the_schema_description_is_valid(tmp_path: Path) -> None:
    example = json.loads('{"statuses": {"6": "on_hold", "7": "pending"}}')
    assert (
        parse_config(config(tmp_path, freshdesk=example), tmp_path, {}).tenants["globex"].options["freshdesk"]
        == example
    )
