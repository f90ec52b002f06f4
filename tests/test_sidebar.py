"""The Zendesk sidebar and the escalation JSON: Zendesk's signed token opens the page, the page's session reads
its own tenant's ticket and nothing else, the admin token reads any.

Real pieces throughout: tickets escalated by the shipped policy through the receiver, a real RQ worker and the
private Redis; tokens signed RS256 with keys made here (tests/support_zaf.py), as Zendesk signs its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import jwt
import pytest
import redis

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.runtime import Runtime, install
from escalator.plugin.sessions import SESSION_RENEWABLE_FOR, SESSION_SECONDS, Session, Sessions
from tests.support import Pipeline, tenant_config
from tests.support_zaf import INSTALLATION_ID, keypair, zaf_token

ADMIN = "admin-token-for-tests-0123456789"
GLOBEX_INSTALLATION = 80_001
ESCALATION_KEYS = {
    "ticket_id",
    "tier",
    "team",
    "group",
    "assignee",
    "owner",
    "escalated",
    "escalations",
    "bounces",
    "clocks",
    "next",
    "pause",
}


def build(redis_url: str, desk: FakeZendesk, admin_token: str | None = ADMIN) -> Pipeline:
    """acme (subdomain acme, base_url the fake) and globex (base_url only), each with its app configured."""
    acme = replace(
        tenant_config(desk.base_url),
        subdomain="acme",
        options={"zendesk_app": {"public_key": keypair().public_pem, "installation_id": INSTALLATION_ID}},
    )
    globex = replace(
        tenant_config(desk.base_url, name="globex"),
        options={"zendesk_app": {"public_key": keypair("globex").public_pem, "installation_id": GLOBEX_INSTALLATION}},
    )
    config = Config(tenants={"acme": acme, "globex": globex}, admin_token=admin_token)
    connection = redis.Redis.from_url(redis_url)
    runtime = Runtime(config, connection)
    install(runtime)
    return Pipeline(desk, runtime, create_app(runtime).test_client(), connection)


@pytest.fixture
def pipe(redis_url: str, desk: FakeZendesk) -> Iterator[Pipeline]:
    """Ticket 42 of acme escalated by a keyword in the customer's comment (L1 -> L2); ticket 43 known only to
    globex (routed to finance at creation); ticket 44, another of acme's."""
    pipe = build(redis_url, desk)
    requester = desk.add_user("Dana Smith", "dana@shop.example")
    for _ in range(41):
        desk.create_ticket("A question", "How do I export my data?", requester)
    desk.clear_webhooks()
    ticket = desk.create_ticket("Dashboard is slow", "Pages take a minute to load.", requester)
    assert int(ticket["id"]) == 42
    pipe.settle()
    desk.customer_comment(42, "Now it is a full outage: nobody here can log in.")
    pipe.settle()
    desk.create_ticket("Billing error", "We were charged twice this month.", requester)
    for payload in desk.pending_webhooks():
        assert pipe.post(payload, tenant="globex").status_code == 202
    desk.clear_webhooks()
    pipe.work()
    desk.clear_webhooks()  # the echo of globex's write: acme never hears of ticket 43
    assert int(desk.create_ticket("Another question", "Where is the invoice?", requester)["id"]) == 44
    pipe.settle()  # acme's ticket 44: known to acme, outside a session opened on ticket 42
    yield pipe
    install(None)
    pipe.redis.close()


@pytest.fixture
def bare(redis_url: str, desk: FakeZendesk) -> Iterator[Pipeline]:
    """The two tenants configured and no ticket: for what is refused before any ticket is looked up."""
    pipe = build(redis_url, desk)
    yield pipe
    install(None)
    pipe.redis.close()


def open_sidebar(pipe: Pipeline, token: str | None, tenant: str = "acme") -> Any:
    data = {"token": token} if token is not None else {}
    return pipe.client.post(f"/apps/zendesk/{tenant}/sidebar", data=data)


def session_of(page: Any) -> str:
    found = re.search(r'data-session="([^"]+)"', page.get_data(as_text=True))
    assert found, "the page holds a session token"
    return found[1]


def read(pipe: Pipeline, tenant: str, ticket: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return pipe.client.get(f"/api/tenants/{tenant}/tickets/{ticket}/escalation", headers=headers)


def test_a_signed_token_opens_the_sidebar_of_ticket_42_with_its_trail_and_deadlines(pipe: Pipeline) -> None:
    page = open_sidebar(pipe, zaf_token())
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    data = read(pipe, "acme", "42", ADMIN).get_json()
    assert set(data) == ESCALATION_KEYS
    assert (data["ticket_id"], data["tier"], data["group"], data["escalated"]) == ("42", "L2", "Tier 2", True)
    (move,) = data["escalations"]
    assert (move["from"], move["to"], move["by"], move["rule"]) == ("L1", "L2", "rule", "outage-or-login")
    assert "outage" in move["reason"]
    assert [clock["metric"] for clock in data["clocks"]] == ["first_response", "resolution"]
    assert all(clock["due"] and not clock["paused"] and not clock["breached"] for clock in data["clocks"])
    assert data["next"] and all(step["at"] and step["what"] for step in data["next"])

    assert "L1 → L2" in html and "by rule outage-or-login" in html and move["reason"].replace("'", "&#39;") in html
    for clock in data["clocks"]:
        assert f'data-due="{clock["due"]}"' in html, "each deadline, counted down live by the page's script"
    assert "first response" in html and "resolution" in html
    for step in data["next"]:
        assert f'datetime="{step["at"]}"' in html
    assert 'data-ticket="42"' in html
    assert '<script src="/apps/zendesk/static/sidebar.js"></script>' in html
    assert "zdassets" not in html, "the ticket is known: no script but ours"
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors https://acme.zendesk.com" in policy and "script-src 'self';" in policy
    assert page.headers["Cache-Control"] == "no-store"

    answer = read(pipe, "acme", "42", session_of(page))
    assert answer.status_code == 200 and answer.get_json() == data
    script = pipe.client.get("/apps/zendesk/static/sidebar.js")
    assert (
        script.status_code == 200
        and b"Authorization" in script.data
        and b"http" not in script.data.replace(b"HTTP ", b"")
    ), "the script fetches our endpoint only"
    script.close()


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: zaf_token(key=keypair("forger")), id="signed-by-another-key"),
        pytest.param(lambda: zaf_token(lifetime=-30), id="expired"),
        pytest.param(lambda: zaf_token(installation_id=999), id="another-installation"),
        pytest.param(lambda: zaf_token("evil.zendesk.com"), id="another-account"),
        pytest.param(lambda: zaf_token("127.0.0.1"), id="base-url-host-though-subdomain-is-set"),
        pytest.param(lambda: zaf_token(iss="evil.zendesk.com"), id="issuer-swapped"),
        pytest.param(lambda: zaf_token(exp=None), id="no-expiry"),
        pytest.param(
            lambda: jwt.encode({"iss": "acme.zendesk.com", "exp": time.time() + 60}, "k" * 32, algorithm="HS256"),
            id="hs256",
        ),
        pytest.param(lambda: zaf_token()[:-4] + "AAAA", id="tampered-signature"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
        pytest.param(lambda: "", id="empty"),
        pytest.param(lambda: None, id="missing"),
    ],
)
def test_a_forged_expired_or_misdirected_token_gets_401_and_no_session(bare: Pipeline, token: Any) -> None:
    page = open_sidebar(bare, token())
    assert page.status_code == 401
    assert "data-session" not in page.get_data(as_text=True)
    assert not bare.redis.keys(keys.tenant_key("acme", "sidebar", "*")), "no session secret was even needed"


def test_without_a_subdomain_the_issuer_is_the_host_of_base_url(pipe: Pipeline) -> None:
    globex = keypair("globex")
    token = zaf_token("127.0.0.1", GLOBEX_INSTALLATION, ticket="43", key=globex)
    assert open_sidebar(pipe, token, "globex").status_code == 200
    wrong = zaf_token("globex.zendesk.com", GLOBEX_INSTALLATION, ticket="43", key=globex)
    assert open_sidebar(pipe, wrong, "globex").status_code == 401
    assert open_sidebar(pipe, zaf_token(), "globex").status_code == 401, "acme's token does not open globex's"


def test_an_unknown_tenant_or_one_without_the_app_gets_404(redis_url: str, desk: FakeZendesk) -> None:
    pipe = build(redis_url, desk)
    assert open_sidebar(pipe, zaf_token(), "initech").status_code == 404
    bare = replace(pipe.runtime.config.tenants["acme"], options={})
    pipe.runtime.config = replace(pipe.runtime.config, tenants={"acme": bare})
    assert open_sidebar(pipe, zaf_token()).status_code == 404
    install(None)


def test_a_session_reads_its_own_ticket_and_nothing_of_another_tenant_or_ticket(pipe: Pipeline) -> None:
    session = session_of(open_sidebar(pipe, zaf_token()))
    assert read(pipe, "acme", "42", session).status_code == 200
    assert read(pipe, "globex", "43", ADMIN).status_code == 200, "globex's ticket exists"
    assert read(pipe, "acme", "44", ADMIN).status_code == 200, "so does another of acme's"
    for tenant, ticket in (("globex", "43"), ("globex", "42"), ("acme", "44"), ("acme", "43")):
        answer = read(pipe, tenant, ticket, session)
        assert answer.status_code == 404, (tenant, ticket)
        assert "tier" not in answer.get_json()

    anywhere = session_of(open_sidebar(pipe, zaf_token(ticket=None)))
    assert read(pipe, "acme", "42", anywhere).status_code == 200, "no ticket in Zendesk's token: any of acme's"
    assert read(pipe, "acme", "44", anywhere).status_code == 200
    assert read(pipe, "globex", "43", anywhere).status_code == 404, "never another tenant's"
    page = open_sidebar(pipe, zaf_token(ticket=None)).get_data(as_text=True)
    assert "zaf_sdk.min.js" in page, "the page asks Zendesk which ticket it is beside"

    globex = session_of(
        open_sidebar(pipe, zaf_token("127.0.0.1", GLOBEX_INSTALLATION, ticket="43", key=keypair("globex")), "globex")
    )
    assert read(pipe, "globex", "43", globex).status_code == 200
    assert read(pipe, "acme", "42", globex).status_code == 404


def test_a_tampered_foreign_or_expired_session_gets_401(pipe: Pipeline) -> None:
    sessions = Sessions(pipe.redis)
    now = time.time()
    assert read(pipe, "acme", "42", sessions.issue(Session("acme", "42", "1", now, now + 60))).status_code == 200
    expired = sessions.issue(Session("acme", "42", "1", now - SESSION_SECONDS - 5, now - 5))
    assert read(pipe, "acme", "42", expired).status_code == 401
    # A session of globex relabelled as acme's: it does not verify under acme's secret.
    globex = sessions.issue(Session("globex", "42", "1", now, now + 60))
    payload, signature = globex.rsplit(".", 1)
    relabelled = sessions.issue(Session("acme", "42", "1", now, now + 60)).rsplit(".", 1)[0] + "." + signature
    assert read(pipe, "acme", "42", relabelled).status_code == 401
    assert read(pipe, "acme", "42", payload + ".x").status_code == 401
    # Claims of a tenant that does not exist are refused before Redis is touched.
    other = Sessions(pipe.redis)
    ghost = other.issue(Session("initech", None, None, now, now + 60))
    pipe.redis.delete(keys.tenant_key("initech", "sidebar", "secret"))
    assert read(pipe, "acme", "42", ghost).status_code == 401
    assert not pipe.redis.exists(keys.tenant_key("initech", "sidebar", "secret"))
    for header in ("", "Basic abc", "Bearer", "Bearer nonsense"):
        answer = pipe.client.get("/api/tenants/acme/tickets/42/escalation", headers={"Authorization": header})
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_admin_token_reads_every_tenant_and_without_one_there_is_no_admin(
    pipe: Pipeline, redis_url: str, desk: FakeZendesk
) -> None:
    assert read(pipe, "acme", "42", ADMIN).status_code == 200
    assert read(pipe, "globex", "43", ADMIN).get_json()["team"] == "finance"
    assert read(pipe, "acme", "42", ADMIN + "x").status_code == 401
    assert read(pipe, "acme", "42", None).status_code == 401
    assert read(pipe, "initech", "42", ADMIN).status_code == 404
    missing = read(pipe, "acme", "4242", ADMIN)
    assert missing.status_code == 404 and "no record of ticket 4242" in missing.get_json()["error"]

    unconfigured = build(redis_url, desk, admin_token=None)
    assert read(unconfigured, "acme", "42", ADMIN).status_code == 401
    assert read(unconfigured, "acme", "42", "").status_code == 401
    install(None)


def test_a_session_is_renewed_past_half_its_life_until_the_working_day_is_over(pipe: Pipeline) -> None:
    now = time.time()
    sessions = Sessions(pipe.redis)
    fresh = sessions.issue(Session("acme", "42", "1", now, now + SESSION_SECONDS))
    assert "X-Escalator-Session" not in read(pipe, "acme", "42", fresh).headers
    aging = sessions.issue(Session("acme", "42", "1", now - 600, now + SESSION_SECONDS / 2 - 60))
    renewed = read(pipe, "acme", "42", aging).headers["X-Escalator-Session"]
    session = sessions.read(renewed, {"acme"})
    assert session is not None and session.ticket == "42" and session.opened == pytest.approx(now - 600)
    assert session.expires == pytest.approx(time.time() + SESSION_SECONDS, abs=5)
    old = now - SESSION_RENEWABLE_FOR - 1
    spent = sessions.issue(Session("acme", "42", "1", old, now + 60))
    answer = read(pipe, "acme", "42", spent)
    assert answer.status_code == 200 and "X-Escalator-Session" not in answer.headers


def test_every_process_shares_one_secret_created_once(redis_client: redis.Redis) -> None:
    first, second = Sessions(redis_client), Sessions(redis_client)
    secret = first.secret("acme")
    assert second.secret("acme") == secret and len(secret) >= 40
    assert first.secret("globex") != secret, "one secret per tenant"
    token = first.open("acme", "42", "1")
    assert second.read(token, {"acme"}) == first.read(token, {"acme"}) is not None
    assert second.read(token, {"globex"}) is None, "a tenant no longer configured: refused"
