"""`escalator install`: credentials, groups, the Zendesk webhook (idempotent), secrets never shown or written.

Run through the command line against the fake help desks, which speak the real webhooks and agents APIs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from escalator.connectors.freshdesk.webhook import DOCUMENTED_BODY, SECRET_HEADER
from escalator.connectors.zendesk.admin import SUBSCRIPTIONS, webhook_spec
from escalator.fakedesk.freshdesk import FakeFreshdesk
from escalator.fakedesk.zendesk import OWN_USER_ID, FakeZendesk
from escalator.plugin.admin.install import masked
from escalator.plugin.app import create_app
from escalator.plugin.cli import main
from escalator.plugin.config import Config
from escalator.plugin.runtime import Runtime
from tests.support import V1_POLICY, install_command
from tests.support_freshdesk import tenant_config as freshdesk_tenant

PUBLIC = "https://escalator.acme.example"
ENDPOINT = f"{PUBLIC}/webhooks/zendesk/acme"


@pytest.fixture
def configured(zendesk: FakeZendesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "escalator.json"
    tenant = {
        "vendor": "zendesk",
        "base_url": zendesk.base_url,
        "auth": {"email": "escalator@acme.example", "api_token": {"env": "ACME_ZENDESK_TOKEN"}},
        "webhook_secret": {"env": "ACME_ZENDESK_WEBHOOK_SECRET"},
        "rules": str(V1_POLICY),
    }
    config.write_text(json.dumps({"public_url": PUBLIC, "tenants": {"acme": tenant}}))
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("ACME_ZENDESK_TOKEN", "api-token-value")
    monkeypatch.delenv("ACME_ZENDESK_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return config


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
    code, lines = install_command(capsys, "--dry-run")
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
    code, lines = install_command(capsys)
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
    code, lines = install_command(capsys)
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
    code, lines = install_command(capsys)
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
    install_command(capsys)
    monkeypatch.setenv("ACME_ZENDESK_WEBHOOK_SECRET", "not-the-signing-secret-at-all")
    code, lines = install_command(capsys)
    assert code == 1
    assert any(
        line.startswith("error   the environment variable ACME_ZENDESK_WEBHOOK_SECRET does not hold") for line in lines
    )
    assert lines[-1] == "next    run again with --show-secret to print the secret (nothing is written to disk)"


def test_show_secret_prints_it_and_nothing_is_written_to_disk(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = configured.read_text()
    install_command(capsys)
    code, lines = install_command(capsys, "--show-secret")
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
    code, lines = install_command(capsys)
    assert code == exit_code and lines[1].startswith(f"error   {message}")
    assert writes(zendesk) == []


def test_an_agent_without_admin_rights_is_told_so(
    zendesk: FakeZendesk, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zendesk.users[OWN_USER_ID]["role"] = "agent"
    code, lines = install_command(capsys)
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
    code, lines = install_command(capsys)
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
        "rules": str(V1_POLICY),
    }
    config.write_text(json.dumps({"public_url": PUBLIC, "tenants": {"acme": tenant}}))
    monkeypatch.setenv("ESCALATOR_CONFIG", str(config))
    monkeypatch.setenv("GLOBEX_FRESHDESK_API_KEY", "fd-key")
    monkeypatch.setenv("GLOBEX_FRESHDESK_WEBHOOK_SECRET", "a-long-random-shared-secret-0123")
    monkeypatch.delenv("REDIS_URL", raising=False)
    yield fake
    fake.stop()


def test_freshdesk_install_checks_and_prints_the_two_automation_rules_when_the_plan_has_no_automations_api(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    freshdesk.fail(r"GET /api/v2/automations/\d+/rules", 403)
    code, lines = install_command(capsys)
    assert code == 0
    assert lines[1:4] == [
        "ok      credentials: escalator@acme.example (support_agent)",
        "ok      groups: Tier 1, Tier 2, Tier 3, Finance, Legal, Security",
        "manual  Freshdesk answered 403 to the automations API (a plan without API access to automation rules): "
        "create these two by hand",
    ]
    text = "\n".join(lines)
    assert 'Rule 1 (Ticket Creation tab): "Escalator: new tickets"' in text
    assert 'Rule 2 (Ticket Updates tab): "Escalator: ticket updates"' in text
    assert text.count(f"URL: {PUBLIC}/webhooks/freshdesk/acme") == 2
    assert text.count("Custom header: X-Escalator-Secret: <the value of GLOBEX_FRESHDESK_WEBHOOK_SECRET>") == 2
    assert "a-long-random-shared-secret-0123" not in text
    body = json.dumps(DOCUMENTED_BODY, indent=2).splitlines()
    assert all(text.count(line) >= 2 for line in body), "the exact documented body, in both rules"
    assert [method for method, _ in freshdesk.requests] == ["GET", "GET", "GET"], "reads only"
    assert freshdesk.automations[1] == {} and freshdesk.automations[4] == {}


def test_freshdesk_show_secret_and_refused_key(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    freshdesk.fail(r"GET /api/v2/automations/\d+/rules", 404)
    code, lines = install_command(capsys, "--show-secret")
    assert code == 0 and any("X-Escalator-Secret: a-long-random-shared-secret-0123" in line for line in lines)
    assert "manual  Freshdesk answered 404 to the automations API" in "\n".join(lines)
    monkeypatch.setenv("GLOBEX_FRESHDESK_API_KEY", "wrong-key")
    code, lines = install_command(capsys)
    assert code == 4 and lines[1].startswith("error   wrong credentials: Freshdesk answered 401")


FRESHDESK_SECRET = "a-long-random-shared-secret-0123"
FRESHDESK_ENDPOINT = f"{PUBLIC}/webhooks/freshdesk/acme"


def automation_writes(fake: FakeFreshdesk) -> list[tuple[str, str]]:
    return [(method, path) for method, path in fake.requests if method != "GET"]


def stored_rule(fake: FakeFreshdesk, kind: int) -> dict[str, Any]:
    (rule,) = fake.automations[kind].values()
    return rule


def test_freshdesk_install_creates_both_rules_and_their_webhooks_reach_the_receiver(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    code, lines = install_command(capsys)
    assert code == 0
    assert lines[3:] == [
        f'create  automation rule "Escalator: new tickets" (ticket creation) -> {FRESHDESK_ENDPOINT}',
        f'create  automation rule "Escalator: ticket updates" (ticket updates) -> {FRESHDESK_ENDPOINT}',
    ]
    assert not any(FRESHDESK_SECRET in line for line in lines)
    creation, updates = stored_rule(freshdesk, 1), stored_rule(freshdesk, 4)
    for rule in (creation, updates):
        (action,) = rule["actions"]
        assert action["url"] == FRESHDESK_ENDPOINT and action["custom_headers"] == {SECRET_HEADER: FRESHDESK_SECRET}
        assert (action["request_type"], action["content_type"], action["content"]) == ("POST", "JSON", DOCUMENTED_BODY)
        assert rule["active"] is True
    assert updates["performer"] == {"type": 3}
    assert {event["field_name"] for event in updates["events"]} == {
        "status", "priority", "group_id", "responder_id", "ticket_type", "note_type", "reply_sent"
    }  # fmt: skip

    # What the created rules make Freshdesk send is what the receiver accepts (the fake plays stored rules).
    config = Config(tenants={"acme": freshdesk_tenant(freshdesk.base_url, name="acme", secret=FRESHDESK_SECRET)})
    receiver = create_app(Runtime(config, redis.Redis.from_url(redis_url))).test_client()
    contact = freshdesk.add_contact("Dana Ruiz", "dana@initech.example")
    ticket = freshdesk.create_ticket("Outage", "Nobody can log in.", contact)
    freshdesk.agent_update(ticket["id"], priority=4)
    freshdesk.agent_note(ticket["id"], "looking into it")
    answers: list[dict[str, Any]] = []

    def post(url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Any:
        assert url == FRESHDESK_ENDPOINT
        answer = receiver.post(urlsplit(url).path, data=data, headers=headers)
        answers.append(answer.get_json())
        return answer

    assert freshdesk.flush_webhooks(post=post) == [202, 202, 202]
    assert {answer["ticket"] for answer in answers} == {str(ticket["id"])}
    assert answers[0]["event"] == "ticket.created"

    before = len(automation_writes(freshdesk))
    code, lines = install_command(capsys)
    assert code == 0 and len(automation_writes(freshdesk)) == before, "a second run changes nothing"
    assert lines[3:] == [
        f'ok      automation rule "Escalator: new tickets" ({creation["id"]}, ticket creation) -> {FRESHDESK_ENDPOINT}',
        f'ok      automation rule "Escalator: ticket updates" ({updates["id"]}, ticket updates) -> '
        f"{FRESHDESK_ENDPOINT}",
    ]


def test_freshdesk_rules_found_by_name_get_only_the_fields_that_differ(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    install_command(capsys)
    creation, updates = stored_rule(freshdesk, 1), stored_rule(freshdesk, 4)
    freshdesk.automations[4][updates["id"]] = {
        **updates,
        "active": False,
        "actions": [{**updates["actions"][0], "url": "https://old.example/webhooks/freshdesk/acme"}],
    }
    puts: list[dict[str, Any]] = []
    freshdesk.app.before_request_funcs.setdefault(None, []).insert(0, lambda: _record_put(puts))
    code, lines = install_command(capsys)
    assert (
        code == 0
        and lines[4] == f'update  automation rule "Escalator: ticket updates" ({updates["id"]}): active, actions'
    )
    assert [sorted(body) for body in puts] == [["actions", "active"]], "one PUT, with only what differs"
    assert stored_rule(freshdesk, 4)["actions"][0]["url"] == FRESHDESK_ENDPOINT
    assert stored_rule(freshdesk, 4)["active"] is True and stored_rule(freshdesk, 1) == creation
    assert len(freshdesk.automations[4]) == 1, "found by name: no second rule"


def _record_put(bodies: list[dict[str, Any]]) -> None:
    from flask import request

    if request.method == "PUT":
        bodies.append(request.get_json())


def test_freshdesk_dry_run_says_what_it_would_do_and_writes_nothing(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = install_command(capsys, "--dry-run")
    assert code == 0
    assert lines[3:] == [
        f'create  automation rule "Escalator: new tickets" (ticket creation) -> {FRESHDESK_ENDPOINT} would be created',
        f'create  automation rule "Escalator: ticket updates" (ticket updates) -> {FRESHDESK_ENDPOINT} would be '
        "created",
    ]
    install_command(capsys)
    rule = stored_rule(freshdesk, 1)
    freshdesk.automations[1][rule["id"]] = {**rule, "active": False}
    code, lines = install_command(capsys, "--dry-run")
    assert (
        code == 0
        and f'update  automation rule "Escalator: new tickets" ({rule["id"]}): active would be changed' in lines
    )
    assert automation_writes(freshdesk) == [
        ("POST", "/api/v2/automations/1/rules"),
        ("POST", "/api/v2/automations/4/rules"),
    ]
    assert stored_rule(freshdesk, 1)["active"] is False


def test_freshdesk_other_creation_rules_are_pointed_out(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    other = {"name": "Route VIPs", "active": True, "actions": [{"field_name": "priority", "value": 4}]}
    with freshdesk.app.test_client() as admin:
        assert admin.post("/api/v2/automations/1/rules", json=other, headers=_basic("fd-key")).status_code == 201
    code, lines = install_command(capsys)
    assert code == 0 and len(freshdesk.automations[1]) == 2
    assert lines[-1].startswith("warn    1 other ticket-creation rule(s) exist: Freshdesk runs only the first matching")


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:X".encode()).decode()}


def test_freshdesk_refused_writes_fall_back_to_the_manual_steps(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    freshdesk.fail(r"POST /api/v2/automations/\d+/rules", 403)
    code, lines = install_command(capsys)
    assert code == 0
    assert any(line.startswith("manual  Freshdesk refused to save an automation rule (403)") for line in lines)
    assert any('Rule 2 (Ticket Updates tab): "Escalator: ticket updates"' in line for line in lines)


def test_freshdesk_agent_without_global_access_is_warned(
    freshdesk: FakeFreshdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    freshdesk.agents[900]["ticket_scope"] = 2
    code, lines = install_command(capsys)
    assert code == 0
    assert "warn    the agent does not have global ticket access: give it Global access or it misses tickets" in lines
