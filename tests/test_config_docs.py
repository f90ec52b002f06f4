"""plugin/config_schema.json (with the connectors' own settings) and the README's settings table agree.

A setting is a leaf of the configuration schema (`auth.oauth_token`, `rate_limit.requests_per_minute`,
`zendesk_app.public_key`); the README's Zendesk settings table names each one (its first column holds the
setting or its object, the row the leaf), and the Freshdesk-only ones are in the README's Freshdesk section.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from escalator.plugin.config import config_schema

ROOT = Path(__file__).resolve().parent.parent
FRESHDESK_ONLY = frozenset({"auth.api_key", "freshdesk.statuses"})
"""Documented in the README's Freshdesk section rather than in the Zendesk settings table."""
README_PENDING: frozenset[str] = frozenset()
"""Settings added before their README row (each case is then a strict xfail, so documenting the setting turns
it into a failure until it is taken out of this set): keeps a drift visible and deliberate."""


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` replaced by what it names, keeping the annotations beside it (`writeOnly`, `format`)."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        beside = {key: value for key, value in node.items() if key != "$ref"}
        return {**resolve(config_schema()["$defs"][ref.removeprefix("#/$defs/")]), **beside}
    return node


def settings() -> dict[str, dict[str, Any]]:
    """Setting path -> its schema: the deployment's and each tenant's leaves."""
    schema = config_schema()
    found = {name: node for name, node in schema["properties"].items() if name != "tenants"}
    for name, raw in schema["$defs"]["tenant"]["properties"].items():
        node = resolve(raw)
        if "properties" in node:
            for leaf, child in node["properties"].items():
                found[f"{name}.{leaf}"] = resolve(child)
        else:
            found[name] = node
    return found


def readme_sections() -> tuple[str, str]:
    text = (ROOT / "README.md").read_text()
    zendesk = text.split("## Setting it up for Zendesk", 1)[1].split("\n## ", 1)[0]
    freshdesk = text.split("## Setting it up for Freshdesk", 1)[1].split("\n## ", 1)[0]
    return zendesk, freshdesk


def readme_rows() -> dict[str, str]:
    """The Zendesk settings table: each setting its first column names (`tenants.<name>.` dropped) -> the row."""
    zendesk, _ = readme_sections()
    rows: dict[str, str] = {}
    for line in zendesk.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows[name.removeprefix("tenants.<name>.")] = line
    return rows


def test_secrets_are_write_only_in_the_schema() -> None:
    """The admin commands and the validator never print a writeOnly value; every secret must be one."""
    secrets = {name for name, node in settings().items() if node.get("writeOnly")}
    assert {"admin_token", "webhook_secret", "auth.api_token", "auth.oauth_token", "auth.api_key"} <= secrets
    assert "zendesk_app.public_key" not in secrets, "a public key is no secret (install prints it)"


def test_every_row_of_the_readme_table_is_a_setting() -> None:
    rows = readme_rows()
    assert rows, "the settings table under 'Setting it up for Zendesk' was not found"
    top_level = {setting.split(".")[0] for setting in settings()}
    assert set(rows) <= top_level, f"README rows without a setting: {set(rows) - top_level}"


def _documented(setting: str) -> bool:
    rows = readme_rows()
    head, _, leaf = setting.partition(".")
    if setting in FRESHDESK_ONLY:
        _, freshdesk = readme_sections()
        return f'"{head}"' in freshdesk and f'"{leaf}"' in freshdesk
    return head in rows and (not leaf or leaf in rows[head])


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="README row pending (issue 11 report)"))
        if name in README_PENDING
        else name
        for name in sorted(settings())
    ],
)
def test_every_setting_is_documented_in_the_readme(setting: str) -> None:
    assert _documented(setting), f"{setting} is not in the README's settings table"


def test_the_pending_readme_rows_are_settings() -> None:
    assert set(settings()) >= README_PENDING | FRESHDESK_ONLY
