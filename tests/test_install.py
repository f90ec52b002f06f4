"""`escalator install`: credentials, groups, the Zendesk webhook (idempotent), secrets never shown or written.

Run through the command line against the fake help desks, which speak the real webhooks and agents APIs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from escalator.connectors.freshdesk.webhook import DOCUMENTED_BODY
from escalator.connectors.zendesk.admin import SUBSCRIPTIONS, webhook_spec
from escalator.fakedesk.freshdesk import FakeFreshdesk
from escalator.fakedesk.zendesk import OWN_USER_ID, FakeZendesk
from escalator.plugin.admin.install import masked
from escalator.plugin.cli import main
from escalator.plugin.demo import seed_policy_path

PUBLIC = "https://escalator.acme.example"
ENDPOINT = f"{PUBLIC}/webhooks/zendesk/acme"


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    fake = FakeZendesk()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def configured(zendesk: FakeZendesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "escalator.json"
    tenant = {
        "vendor": "zendesk",
        "base_url": zendesk.base_url,
        "auth": {"email": "escalator@acme.example", "api_token": {"env": "ACME_ZENDESK_TOKEN"}},
        "webhook_secret": {"env": "ACME_ZENDESK_WEBHOOK_SECRET"},
        "rules": str(seed_policy_path()),
    }
    config.write_text(json.dumps({"public_url": PUBLIC, "tenants": {"acme": tenant}}))
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("ACME_ZENDESK_TOKEN", "api-token-value")
    monkeypatch.delenv("ACME_ZENDESK_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return config


def install(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["install", "acme", *args])
    return code, capsys.readouterr().out.splitlines()


def readme_events() -> list[str]:
    """The ticket events the README's set-up section tells admins to subscribe the webhook to."""
    text = (Path(__file__).parent.parent / "README.md").read_text()
    section = text.split("subscribed to these ticket events:", 1)[1].split("signing secret", 1)[0]
    return re.findall(r"`(ticket\.[a-z_]+)`", section)


def writes(fake: FakeZendesk) -> list[tuple[str, str]]:
    return [(method, path) for method, path in fake.requests if method in ("POST", "PATCH", "PUT", "DELETE")]


def test_a_dry_run_says_what_it_would_create_and_writes_nothing(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = install(capsys, "--dry-run")
    assert code == 0
    assert lines == [
        f"escalator install acme: zendesk at {zendesk.base_url} (dry run: nothing will be changed)",
        "ok      credentials: escalator@acme.example (admin)",
        "warn    Zendesk API tokens stop working on 2027-04-30: move this tenant to OAuth (auth.oauth_token)",
        "ok      groups: Tier 1, Tier 2, Tier 3, Finance, Legal, Security",
        f'create  webhook "Escalator (acme)" -> {ENDPOINT} (8 ticket events) would be created',
        "next    run without --dry-run, then set the webhook's signing secret",
    ]
    assert writes(zendesk) == [] and zendesk.webhooks == {}


def test_install_creates_the_webhook_once_and_a_second_run_changes_nothing(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, lines = install(capsys)
    assert code == 0
    ((webhook_id, webhook),) = zendesk.webhooks.items()
    assert {key: webhook[key] for key in webhook_spec("acme", ENDPOINT)} == {
        "name": "Escalator (acme)",
        "endpoint": ENDPOINT,
        "http_method": "POST",
        "request_format": "json",
        "status": "active",
        "subscriptions": list(SUBSCRIPTIONS),
    }
    assert list(SUBSCRIPTIONS) == [f"zen:event-type:{name}" for name in readme_events()]
    secret = zendesk.signing_secrets[webhook_id]
    assert f'create  webhook "Escalator (acme)" -> {ENDPOINT} (8 ticket events)' in lines
    assert (
        f"next    set the environment variable ACME_ZENDESK_WEBHOOK_SECRET to the webhook's signing secret "
        f"({masked(secret)}), then restart serve" in lines
    )
    assert not any(secret in line for line in lines), "never printed in full without --show-secret"

    monkeypatch.setenv("ACME_ZENDESK_WEBHOOK_SECRET", secret)
    before = len(writes(zendesk))
    code, lines = install(capsys)
    assert code == 0 and len(writes(zendesk)) == before, "nothing to create or change"
    assert lines[-2:] == [
        f'ok      webhook "Escalator (acme)" ({webhook_id}) -> {ENDPOINT} (8 ticket events)',
        "ok      the environment variable ACME_ZENDESK_WEBHOOK_SECRET holds the webhook's signing secret",
    ]


def test_an_existing_webhook_is_found_by_name_and_brought_up_to_date(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zendesk.webhooks["01OLD"] = {
        "id": "01OLD",
        "name": "Escalator (acme)",
        "endpoint": "https://old.example/webhooks/zendesk/acme",
        "http_method": "POST",
        "request_format": "json",
        "status": "inactive",
        "subscriptions": ["zen:event-type:ticket.created"],
        "description": "kept as the admin wrote it",
    }
    zendesk.signing_secrets["01OLD"] = "x" * 40
    patches: list[dict[str, Any]] = []
    zendesk.app.before_request_funcs.setdefault(None, []).insert(0, lambda: _record_patch(patches))
    code, lines = install(capsys)
    assert code == 0 and len(zendesk.webhooks) == 1
    assert patches == [{"webhook": {"endpoint": ENDPOINT, "status": "active", "subscriptions": list(SUBSCRIPTIONS)}}], (
        "only the fields that differ"
    )
    assert zendesk.webhooks["01OLD"]["description"] == "kept as the admin wrote it"
    assert lines[4] == (
        "update  webhook 01OLD: endpoint 'https://old.example/webhooks/zendesk/acme' -> "
        f"'{ENDPOINT}', status 'inactive' -> 'active', subscriptions -> 8 ticket events"
    )


def _record_patch(patches: list[dict[str, Any]]) -> None:
    from flask import request

    if request.method == "PATCH":
        patches.append(request.get_json())


def test_a_configured_secret_that_differs_is_an_error(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    install(capsys)
    monkeypatch.setenv("ACME_ZENDESK_WEBHOOK_SECRET", "not-the-signing-secret-at-all")
    code, lines = install(capsys)
    assert code == 1
    assert any(
        line.startswith("error   the environment variable ACME_ZENDESK_WEBHOOK_SECRET does not hold") for line in lines
    )
    assert lines[-1] == "next    run again with --show-secret to print the secret (nothing is written to disk)"


def test_show_secret_prints_it_and_nothing_is_written_to_disk(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = configured.read_text()
    install(capsys)
    code, lines = install(capsys, "--show-secret")
    (secret,) = zendesk.signing_secrets.values()
    assert code == 0 and any(f"signing secret ({secret})" in line for line in lines)
    assert configured.read_text() == before
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert files == [configured] and all(secret not in path.read_text(errors="ignore") for path in files)


@pytest.mark.parametrize(
    ("status", "message", "exit_code"),
    [
        # DESIGN §3: 4 when the help desk refuses our credentials; a missing right is a problem to fix (1).
        (401, "wrong credentials: Zendesk answered 401", 4),
        (403, "the user needs admin rights: Zendesk answered 403", 1),
    ],
)
def test_refused_credentials_are_explained(
    zendesk: FakeZendesk,
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
    message: str,
    exit_code: int,
) -> None:
    zendesk.fail(r"GET /api/v2/users/me", status)
    code, lines = install(capsys)
    assert code == exit_code and lines[1].startswith(f"error   {message}")
    assert writes(zendesk) == []


def test_an_agent_without_admin_rights_is_told_so(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zendesk.users[OWN_USER_ID]["role"] = "agent"
    code, lines = install(capsys)
    assert code == 1
    assert lines[1] == (
        "error   escalator@acme.example is a Zendesk agent: the user needs admin rights "
        "(webhooks, the incremental export)"
    )


def test_missing_groups_are_listed_and_nothing_is_created(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    del zendesk.groups[103]
    del zendesk.groups[202]
    code, lines = install(capsys)
    assert code == 1
    assert lines[-1] == "error   groups missing in the help desk (create them, or fix the rules): Tier 3, Legal"
    assert zendesk.webhooks == {} and writes(zendesk) == [], "nothing is set up until the groups exist"


def test_unknown_tenant_and_missing_configuration_are_usage_errors(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as unknown:
        main(["install", "globex"])
    assert (
        unknown.value.code == 2 and "no tenant 'globex' in the configuration (tenants: acme)" in capsys.readouterr().err
    )
    monkeypatch.delenv("ACME_ZENDESK_TOKEN")
    with pytest.raises(SystemExit) as missing:
        main(["install", "acme"])
    assert missing.value.code == 2 and "ACME_ZENDESK_TOKEN is not set" in capsys.readouterr().err


def test_oauth_with_refresh_needs_the_workers_redis(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads(configured.read_text())
    data["tenants"]["acme"]["auth"] = {"oauth_token": "a", "refresh_token": "r", "client_id": "c", "client_secret": "s"}
    configured.write_text(json.dumps(data))
    with pytest.raises(SystemExit) as stopped:
        main(["install", "acme"])
    assert stopped.value.code == 2 and "set REDIS_URL" in capsys.readouterr().err


# --- Freshdesk --------------------------------------------------------------------------------------------------------


@pytest.fixture
def freshdesk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFreshdesk]:
    fake = FakeFreshdesk(api_key="fd-key")
    fake.start()
    config = tmp_path / "escalator.json"
    tenant = {
        "vendor": "freshdesk",
        "base_url": fake.base_url,
        "auth": {"api_key": {"env": "GLOBEX_FRESHDESK_API_KEY"}},
        "webhook_secret": {"env": "GLOBEX_FRESHDESK_WEBHOOK_SECRET"},
        "rules": str(seed_policy_path()),
    }
    config.write_text(json.dumps({"public_url": PUBLIC, "tenants": {"acme": tenant}}))
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("GLOBEX_FRESHDESK_API_KEY", "fd-key")
    monkeypatch.setenv("GLOBEX_FRESHDESK_WEBHOOK_SECRET", "a-long-random-shared-secret-0123")
    monkeypatch.delenv("REDIS_URL", raising=False)
    yield fake
    fake.stop()


def test_freshdesk_install_checks_and_prints_the_two_automation_rules(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = install(capsys)
    assert code == 0
    assert lines[1:4] == [
        "ok      credentials: escalator@acme.example (support_agent)",
        "ok      groups: Tier 1, Tier 2, Tier 3, Finance, Legal, Security",
        "manual  Freshdesk's public API cannot create automation rules reliably: create these two",
    ]
    text = "\n".join(lines)
    assert 'Rule 1 (Ticket Creation tab): "Escalator: new tickets"' in text
    assert 'Rule 2 (Ticket Updates tab): "Escalator: ticket updates"' in text
    assert text.count(f"URL: {PUBLIC}/webhooks/freshdesk/acme") == 2
    assert text.count("Custom header: X-Escalator-Secret: <the value of GLOBEX_FRESHDESK_WEBHOOK_SECRET>") == 2
    assert "a-long-random-shared-secret-0123" not in text
    body = json.dumps(DOCUMENTED_BODY, indent=2).splitlines()
    assert all(text.count(line) >= 2 for line in body), "the exact documented body, in both rules"
    assert [method for method, _ in freshdesk.requests] == ["GET", "GET"], "reads only"


def test_freshdesk_show_secret_and_refused_key(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, lines = install(capsys, "--show-secret")
    assert code == 0 and any("X-Escalator-Secret: a-long-random-shared-secret-0123" in line for line in lines)
    monkeypatch.setenv("GLOBEX_FRESHDESK_API_KEY", "wrong-key")
    code, lines = install(capsys)
    assert code == 4 and lines[1].startswith("error   wrong credentials: Freshdesk answered 401")


def test_freshdesk_agent_without_global_access_is_warned(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    freshdesk.agents[900]["ticket_scope"] = 2
    code, lines = install(capsys)
    assert code == 0
    assert "warn    the agent does not have global ticket access: give it Global access or it misses tickets" in lines
