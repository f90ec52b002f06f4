"""Zendesk OAuth: Bearer tokens, refresh on 401 with rotation, the newest pair shared by every worker in Redis.

The vendor is mocked at the HTTP boundary (`responses`); the token store is the real one on the private Redis.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import redis
import responses

from escalator.connectors.base import Services, TenantSettings
from escalator.connectors.errors import PermanentError
from escalator.connectors.registry import CONNECTORS
from escalator.connectors.zendesk import ZendeskConnector
from escalator.connectors.zendesk.api import ZendeskClient, auth_headers
from escalator.connectors.zendesk.oauth import MemoryTokenStore, OAuthHttp, OAuthSession, origin_of
from escalator.plugin import keys
from escalator.plugin.config import Config, ConfigError, TenantConfig, parse_config
from escalator.plugin.runtime import Runtime
from escalator.plugin.tokens import RedisTokenStore
from tests.support import V1_POLICY

BASE = "https://acme.zendesk.com"
ME = f"{BASE}/api/v2/users/me.json"
TOKENS = f"{BASE}/oauth/tokens"
AUTH = {"oauth_token": "access-1", "refresh_token": "refresh-1", "client_id": "escalator", "client_secret": "s3cret"}


def tenant(auth: dict[str, str] | None = None) -> TenantSettings:
    return TenantSettings("acme", BASE, dict(auth or AUTH), "")


def client(store: Any, auth: dict[str, str] | None = None) -> ZendeskClient:
    return ZendeskConnector().client(tenant(auth), Services(token_store=store))


def bearer(call: Any) -> str:
    return str(call.request.headers["Authorization"])


def me_answers(*tokens_and_statuses: tuple[str, int]) -> None:
    """GET /users/me answers 200 for the tokens listed with 200 and 401 for the others."""
    valid = {token for token, status in tokens_and_statuses if status == 200}

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        if token in valid:
            return 200, {}, json.dumps({"user": {"id": 900, "role": "admin"}})
        return 401, {}, json.dumps({"error": "invalid_token", "error_description": "The access token is invalid"})

    responses.add_callback(responses.GET, ME, callback=answer)


def rotation(*pairs: tuple[str, str], expires_in: int | None = 7200) -> list[dict[str, Any]]:
    """The token endpoint hands out these (access, refresh) pairs in order; returns the request bodies seen."""
    bodies: list[dict[str, Any]] = []
    answers = iter(pairs)

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        bodies.append(json.loads(request.body))
        access, refresh = next(answers)
        body = {"access_token": access, "refresh_token": refresh, "token_type": "bearer", "scope": "read write"}
        if expires_in is not None:
            body.update(expires_in=expires_in, refresh_token_expires_in=2_592_000)
        return 201, {}, json.dumps(body)

    responses.add_callback(responses.POST, TOKENS, callback=answer)
    return bodies


@responses.activate
def test_the_access_token_goes_as_bearer_and_api_tokens_still_work() -> None:
    me_answers(("access-1", 200))
    assert client(MemoryTokenStore()).own_user_id() == "900"
    assert bearer(responses.calls[0]) == "Bearer access-1"
    assert auth_headers({"email": "e@x.example", "api_token": "tok"})["Authorization"].startswith("Basic ")
    assert auth_headers({"oauth_token": "plain"}) == {"Authorization": "Bearer plain"}


@responses.activate
def test_a_401_refreshes_with_the_refresh_token_grant_and_retries_once(redis_client: redis.Redis) -> None:
    me_answers(("access-2", 200))
    bodies = rotation(("access-2", "refresh-2"))
    store = RedisTokenStore(redis_client, "acme")
    assert client(store).own_user_id() == "900"
    assert bodies == [
        {
            "grant_type": "refresh_token",
            "refresh_token": "refresh-1",
            "client_id": "escalator",
            "client_secret": "s3cret",
        }
    ]
    assert [bearer(call) for call in responses.calls if call.request.method == "GET"] == [
        "Bearer access-1",
        "Bearer access-2",
    ]
    token_call = next(call for call in responses.calls if call.request.method == "POST")
    assert "Authorization" not in token_call.request.headers, "the client's credentials go in the body"
    assert token_call.request.headers["Content-Type"] == "application/json"
    saved = json.loads(redis_client.get(keys.tenant_key("acme", "oauth")) or "{}")
    assert (saved["access_token"], saved["refresh_token"]) == ("access-2", "refresh-2"), "rotated pair kept"
    assert saved["expires_at"] > 0 and saved["refresh_expires_at"] > saved["expires_at"]


@responses.activate
def test_every_worker_uses_the_newest_pair_and_only_one_refreshes(redis_client: redis.Redis) -> None:
    me_answers(("access-2", 200))
    bodies = rotation(("access-2", "refresh-2"))
    first = client(RedisTokenStore(redis_client, "acme"))
    stale = client(RedisTokenStore(redis_client, "acme"))  # built before the refresh: still holds access-1
    assert first.own_user_id() == "900"
    assert stale.own_user_id() == "900", "its 401 made it adopt the stored token instead of refreshing"
    assert len(bodies) == 1
    fresh = client(RedisTokenStore(redis_client, "acme"))  # a worker started later begins with the newest
    responses.calls.reset()
    assert fresh.own_user_id() == "900" and bearer(responses.calls[0]) == "Bearer access-2"


@responses.activate
def test_concurrent_401s_in_two_workers_cause_one_refresh(redis_client: redis.Redis) -> None:
    me_answers(("access-2", 200))
    bodies = rotation(("access-2", "refresh-2"), ("access-3", "refresh-3"))
    clients = [client(RedisTokenStore(redis_client, "acme")) for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    results: list[str] = []

    def work(zendesk: ZendeskClient) -> None:
        barrier.wait()
        results.append(zendesk.own_user_id())

    threads = [threading.Thread(target=work, args=(zendesk,)) for zendesk in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == ["900"] * 4
    assert len(bodies) == 1, "a second refresh would have used the rotated-away refresh token"


@responses.activate
def test_a_token_about_to_expire_is_refreshed_before_use() -> None:
    me_answers(("access-2", 200), ("access-3", 200))
    bodies = rotation(("access-2", "refresh-2"), ("access-3", "refresh-3"), expires_in=3600)
    now = [1_000_000.0]
    session = OAuthSession(BASE, AUTH, MemoryTokenStore(), clock=lambda: now[0])
    http = OAuthHttp(BASE, session)
    http.request("GET", "/api/v2/users/me.json")  # 401 -> refresh -> access-2, valid for an hour
    now[0] += 3600 - 30  # thirty seconds before it expires
    http.request("GET", "/api/v2/users/me.json")
    assert len(bodies) == 2 and bodies[1]["refresh_token"] == "refresh-2"
    assert bearer(responses.calls[-1]) == "Bearer access-3"
    assert sum(call.response.status_code == 401 for call in responses.calls) == 1, "no 401 the second time"


@responses.activate
def test_a_revoked_refresh_token_is_a_clear_permanent_error(redis_client: redis.Redis) -> None:
    me_answers()
    responses.add(
        responses.POST,
        TOKENS,
        status=400,
        json={"error": "invalid_grant", "error_description": "The provided authorization grant is invalid"},
    )
    with pytest.raises(PermanentError) as refused:
        client(RedisTokenStore(redis_client, "acme")).own_user_id()
    assert refused.value.status == 401
    assert "invalid_grant" in str(refused.value) and "authorize Escalator again" in str(refused.value)
    assert sum(call.request.method == "POST" for call in responses.calls) == 1, "refreshed once, not in a loop"


@responses.activate
def test_without_a_refresh_token_a_401_is_not_retried() -> None:
    me_answers()
    with pytest.raises(PermanentError) as refused:
        ZendeskConnector().client(tenant({"oauth_token": "access-1"}), Services()).own_user_id()
    assert refused.value.status == 401 and len(responses.calls) == 1


@responses.activate
def test_newly_configured_tokens_win_over_an_old_stored_chain(redis_client: redis.Redis) -> None:
    store = RedisTokenStore(redis_client, "acme")
    store.save({"access_token": "old-chain", "refresh_token": "old-refresh", "origin": origin_of(AUTH)})
    reauthorized = {**AUTH, "oauth_token": "new-access", "refresh_token": "new-refresh"}
    me_answers(("new-access", 200))
    assert client(store, reauthorized).own_user_id() == "900"
    assert bearer(responses.calls[0]) == "Bearer new-access"


def test_the_runtime_shares_rotated_tokens_through_redis(redis_client: redis.Redis, tmp_path: Path) -> None:
    config = TenantConfig(
        name="acme",
        vendor="zendesk",
        base_url=BASE,
        auth=AUTH,
        webhook_secret="s",
        rules_path=V1_POLICY,
        rate_limit={"requests_per_minute": 700, "ticket_updates_per_minute": 100},
    )
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, ME, status=401, json={"error": "invalid_token"})
        mock.add(responses.POST, TOKENS, status=201, json={"access_token": "access-2", "refresh_token": "refresh-2"})
        mock.add(responses.GET, ME, json={"user": {"id": 900, "role": "admin"}})
        runtime = Runtime(Config(tenants={"acme": config}), redis_client)
        assert runtime.client("acme").own_user_id() == "900"
    other = Runtime(Config(tenants={"acme": config}), redis.Redis(connection_pool=redis_client.connection_pool))
    http = other.client("acme").http  # type: ignore[attr-defined]
    assert isinstance(http, OAuthHttp) and http.oauth.tokens.access_token == "access-2"
    assert CONNECTORS["zendesk"].vendor == "zendesk"


def config_data(auth: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenants": {
            "acme": {
                "vendor": "zendesk",
                "subdomain": "acme",
                "auth": auth,
                "webhook_secret": "s",
                "rules": str(V1_POLICY),
            }
        }
    }


def test_the_configuration_takes_oauth_settings_from_the_environment(tmp_path: Path) -> None:
    auth = {key: {"env": f"ACME_{key.upper()}"} for key in AUTH}
    env = {f"ACME_{key.upper()}": value for key, value in AUTH.items()}
    parsed = parse_config(config_data(auth), tmp_path, env).tenants["acme"]
    assert dict(parsed.auth) == AUTH
    assert parsed.env_names["auth.refresh_token"] == "ACME_REFRESH_TOKEN"
    with pytest.raises(ConfigError) as missing:
        parse_config(config_data({"oauth_token": "a", "refresh_token": "r"}), tmp_path, {})
    assert "a refresh_token needs the OAuth client's client_id and client_secret" in str(missing.value)
    only_refresh = parse_config(config_data({k: v for k, v in AUTH.items() if k != "oauth_token"}), tmp_path, {})
    assert only_refresh.tenants["acme"].auth["refresh_token"] == "refresh-1", "a refresh token alone will do"
