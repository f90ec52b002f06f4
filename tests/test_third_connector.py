"""A vendor is one folder: a third connector, registered with one line, is configured, receives webhooks,
decides and writes back, with no change anywhere in plugin/."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from rq import SimpleWorker

from escalator.connectors import registry
from escalator.plugin.app import create_app
from escalator.plugin.config import ConfigError, parse_config
from escalator.plugin.runtime import QUEUE_NAME, Runtime, install
from tests.support import V1_POLICY
from tests.thirddesk import DESKS, ThirdConnector, ThirdDesk

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def third() -> Iterator[None]:
    registry.register(ThirdConnector())
    yield
    registry.CONNECTORS.pop("thirddesk")


def config(tmp_path: Path, **extra: object) -> dict[str, object]:
    tenant = {"vendor": "thirddesk", "subdomain": "initech", "auth": {"api_key": "k"}, "webhook_secret": "s3",
              "rules": str(V1_POLICY), **extra}  # fmt: skip
    return {"tenants": {"initech": tenant}}


def test_the_configuration_knows_the_new_vendor_and_its_own_settings(third: None, tmp_path: Path) -> None:
    tenant = parse_config(config(tmp_path, thirddesk={"region": "eu"}), tmp_path, {}).tenants["initech"]
    assert tenant.base_url == "https://initech.thirddesk.example"
    assert tenant.rate_limit == {"requests_per_minute": 600}
    assert tenant.settings().options == {"thirddesk": {"region": "eu"}}
    with pytest.raises(ConfigError, match=r"\$\.tenants\.initech\.auth: Thirddesk needs api_key"):
        parse_config(config(tmp_path, auth={}), tmp_path, {})
    with pytest.raises(ConfigError, match="region"):
        parse_config(config(tmp_path, thirddesk={"region": "mars"}), tmp_path, {})


def test_an_unregistered_vendor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="vendor"):
        parse_config(config(tmp_path), tmp_path, {})


def test_a_webhook_is_decided_and_written_back_through_the_new_connector(
    third: None, tmp_path: Path, redis_url: str
) -> None:
    cfg = parse_config(config(tmp_path), tmp_path, {})
    desk = DESKS.setdefault("https://initech.thirddesk.example", ThirdDesk())
    desk.tickets["7"] = {"subject": "Outage: cannot log in", "description": "Nobody can sign in.", "status": "new",
                         "group": "1", "requester": "Ivy Chen", "created_at": "2026-03-02T14:00:00Z"}  # fmt: skip
    connection = redis.Redis.from_url(redis_url)
    runtime = Runtime(cfg, connection)
    install(runtime)
    try:
        client = create_app(runtime).test_client()
        body = json.dumps({"id": "e1", "kind": "ticket.created", "ticket": 7,
                           "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})  # fmt: skip
        assert (
            client.post("/webhooks/thirddesk/initech", data=body, headers={"X-Third-Secret": "nope"}).status_code == 401
        )
        assert (
            client.post("/webhooks/thirddesk/initech", data=body, headers={"X-Third-Secret": "s3"}).status_code == 202
        )
        SimpleWorker([QUEUE_NAME], connection=connection).work(burst=True, with_scheduler=False)
    finally:
        install(None)
    (write,) = desk.writes
    assert write["group"] == "2" and write["priority"] == "urgent"
    assert any(comment["public"] and "Ivy" in comment["body"] for comment in write["comments"])


def test_plugin_has_no_vendor_branching() -> None:
    """The plugin reaches vendors only through the registry: no `zendesk`/`freshdesk` in its code paths."""
    branching = r"(==|!=|in) *[\"'](zendesk|freshdesk)[\"']|connectors\.(zendesk|freshdesk)"
    found = subprocess.run(
        ["grep", "-rniE", "--include=*.py", branching, str(ROOT / "plugin")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == "", found.stdout
