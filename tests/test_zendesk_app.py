"""`escalator install` finds the tenant's installation of the Zendesk app and its public key, prints the
`zendesk_app` settings (never writing the configuration), and those settings open the sidebar.

Against the fake Zendesk, which serves `GET /api/v2/apps/installations.json` and the app's
`public_key.pem` as Zendesk does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin.config import load_config
from escalator.plugin.demo import seed_policy_path
from escalator.plugin.zendesk_app import AppNotConfigured, AppTokenRejected, verify_app_token
from tests.support import install_command
from tests.support_zaf import keypair, zaf_token

APP_ID = 123


def write_config(path: Path, zendesk: FakeZendesk, **extra: Any) -> None:
    tenant = {
        "vendor": "zendesk",
        "subdomain": "acme",
        "base_url": zendesk.base_url,
        "auth": {"email": "escalator@acme.example", "api_token": "api-token-value"},
        "webhook_secret": {"env": "ACME_ZENDESK_WEBHOOK_SECRET"},
        "rules": str(seed_policy_path()),
        **extra,
    }
    path.write_text(json.dumps({"public_url": "https://escalator.acme.example", "tenants": {"acme": tenant}}))


@pytest.fixture
def config(zendesk: FakeZendesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "escalator.json"
    write_config(path, zendesk)
    monkeypatch.setenv("ESCALATOR_CONFIG", str(path))
    monkeypatch.delenv("ACME_ZENDESK_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def app_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if "zendesk_app" in line or "Escalator app" in line]


def printed_settings(lines: list[str]) -> dict[str, Any]:
    (line,) = [line for line in lines if line.startswith("next") and '"zendesk_app"' in line]
    assert line.startswith("next    add to tenants.acme in the configuration, then restart serve: ")
    settings = json.loads("{" + line.split("restart serve: ", 1)[1] + "}")
    assert isinstance(settings, dict)
    return settings


def test_install_prints_the_apps_settings_and_they_open_the_sidebar(
    zendesk: FakeZendesk, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zendesk.app_public_key = keypair().public_pem
    zendesk.add_installation(999, settings={"name": "Another app"})
    installation = zendesk.add_installation(APP_ID, settings={"name": "Escalator", "escalator_tenant": "acme"})
    before = config.read_text()

    code, lines = install_command(capsys, "--dry-run")
    assert code == 0
    settings = printed_settings(lines)
    assert settings == {"zendesk_app": {"installation_id": installation, "public_key": keypair().public_pem}}
    assert config.read_text() == before, "install never writes the configuration"

    code, lines = install_command(capsys)
    assert code == 0 and printed_settings(lines) == settings
    assert config.read_text() == before

    write_config(config, zendesk, **settings)
    code, lines = install_command(capsys)
    assert code == 0
    assert app_lines(lines) == [
        f"ok      zendesk_app: installation {installation} of app {APP_ID}, public key matches"
    ], "a second run with the settings in place has nothing left to say"

    tenant = load_config(config, {"ACME_ZENDESK_WEBHOOK_SECRET": "x"}).tenants["acme"]
    token = verify_app_token(zaf_token("acme.zendesk.com", installation), tenant, time.time())
    assert (token.ticket, token.user) == ("42", "1900000001")
    numeric = verify_app_token(zaf_token("acme.zendesk.com", installation, sub=7, ticket=None), tenant, time.time())
    assert (numeric.ticket, numeric.user) == (None, "7"), "a user id as a number is still the user"
    with pytest.raises(AppTokenRejected):
        verify_app_token(zaf_token("acme.zendesk.com", installation, key=keypair("forger")), tenant, time.time())


def test_a_lone_untagged_escalator_installation_is_found_and_a_key_mismatch_is_shown(
    zendesk: FakeZendesk, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zendesk.app_public_key = keypair().public_pem
    installation = zendesk.add_installation(APP_ID, settings={"name": "Escalator"})
    write_config(
        config, zendesk, zendesk_app={"installation_id": installation, "public_key": keypair("old").public_pem}
    )
    code, lines = install_command(capsys)
    assert code == 0
    assert printed_settings(lines)["zendesk_app"]["public_key"] == keypair().public_pem, "the key to put in place"


def test_another_tenants_installation_is_not_ours(
    zendesk: FakeZendesk, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zendesk.app_public_key = keypair().public_pem
    zendesk.add_installation(APP_ID, settings={"name": "Escalator", "escalator_tenant": "globex"})
    code, lines = install_command(capsys)
    assert code == 0 and app_lines(lines) == [], "the app is optional: nothing to say when it is not installed"

    write_config(config, zendesk, zendesk_app={"installation_id": 70_000, "public_key": keypair().public_pem})
    code, lines = install_command(capsys)
    assert code == 1
    (error,) = app_lines(lines)
    assert error.startswith("error   zendesk_app is configured but Zendesk lists no installation of the Escalator app")


def test_a_missing_public_key_is_a_problem_not_a_traceback(
    zendesk: FakeZendesk, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zendesk.add_installation(APP_ID, settings={"name": "Escalator", "escalator_tenant": "acme"})
    code, lines = install_command(capsys)
    assert code == 1
    assert any(line.startswith("error   zendesk refused: GET /api/v2/apps/123/public_key.pem: 404") for line in lines)


def test_a_tenant_without_the_app_or_on_freshdesk_has_no_sidebar(zendesk: FakeZendesk, config: Path) -> None:
    tenant = load_config(config, {"ACME_ZENDESK_WEBHOOK_SECRET": "x"}).tenants["acme"]
    with pytest.raises(AppNotConfigured):
        verify_app_token(zaf_token(), tenant, time.time())
