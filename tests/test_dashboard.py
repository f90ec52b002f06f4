"""The admin dashboard and its JSON API over HTTP: who may see it (login, session cookie, bearer, CSRF), what the
endpoints answer from what the real pipeline recorded, dead letters replayed back into the queue, and the
shipped chart library. The page drawing in a real browser is tests/test_dashboard_browser.py.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from escalator.plugin.admin_api import COOKIE, CSRF_HEADER, MAX_DAYS, issue_session, read_session
from escalator.plugin.app import create_app
from escalator.plugin.config import Config
from escalator.plugin.connection import connect
from escalator.plugin.runtime import Runtime, install
from escalator.plugin.sessions import Sessions
from tests.conftest import _free_port
from tests.support import TENANT, Pipeline, tenant_config

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "dashboard-admin-token-0123456789abcdef"
KPI_KEYS = {
    "tenant", "tickets", "escalated", "escalation_rate", "routed", "escalations_by_rule", "escalations_by_target",
    "escalations_by_actor", "touches_per_escalated_ticket", "escalated_resolution_hours", "time_in_tier_hours",
    "bounced_tickets", "bounce_rate", "sla", "series",
}  # fmt: skip
"""DESIGN §8."""


def build(
    redis_url: str, desk: FakeZendesk, admin_token: str | None = ADMIN, public_url: str | None = None
) -> Pipeline:
    config = Config(
        tenants={TENANT: tenant_config(desk.base_url), "globex": tenant_config(desk.base_url, name="globex")},
        admin_token=admin_token,
    )
    if public_url:
        config = replace(config, public_url=public_url)
    connection = redis.Redis.from_url(redis_url)
    runtime = Runtime(config, connection)
    install(runtime)
    return Pipeline(desk, runtime, create_app(runtime).test_client(), connection)


@pytest.fixture
def pipe(redis_url: str, desk: FakeZendesk) -> Iterator[Pipeline]:
    pipe = build(redis_url, desk)
    yield pipe
    install(None)
    pipe.redis.close()


def log_in(client: FlaskClient, token: str = ADMIN) -> str:
    """Post the login form; returns the session's CSRF token, read from the page as its script reads it."""
    answer = client.post("/dashboard/login", data={"token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/dashboard")
    page = client.get("/dashboard").get_data(as_text=True)
    found = re.search(r'data-csrf="([^"]+)"', page)
    assert found, "the dashboard page carries the session's CSRF token"
    return found[1]


def bearer(token: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_an_admin_token_everything_answers_404(redis_url: str, desk: FakeZendesk) -> None:
    client = build(redis_url, desk, admin_token=None).client
    assert client.get("/dashboard").status_code == 404
    assert client.post("/dashboard/login", data={"token": ""}).status_code == 404
    for path in ("/api/admin/tenants", "/api/admin/live", f"/api/admin/tenants/{TENANT}/kpis"):
        assert client.get(path, headers=bearer("")).status_code == 404
    assert client.post(f"/api/admin/tenants/{TENANT}/dead-letters/replay").status_code == 404
    install(None)


def test_the_login_form_then_a_signed_httponly_strict_session_cookie(pipe: Pipeline) -> None:
    form = pipe.client.get("/dashboard")
    assert form.status_code == 200 and 'name="token"' in form.get_data(as_text=True)
    assert "script-src 'self'" in form.headers["Content-Security-Policy"]
    refused = pipe.client.post("/dashboard/login", data={"token": "not-the-token"})
    assert refused.status_code == 401 and "That is not the admin token." in refused.get_data(as_text=True)
    assert "Set-Cookie" not in refused.headers

    answer = pipe.client.post("/dashboard/login", data={"token": ADMIN})
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie, "plain http here (public_url http)"
    assert ADMIN not in cookie
    page = pipe.client.get("/dashboard")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="dashboard"' in text and "chart.umd.min.js" in text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_the_cookie_is_secure_when_the_deployment_is_https(redis_url: str, desk: FakeZendesk) -> None:
    client = build(redis_url, desk, public_url="https://escalator.acme.example").client
    assert "Secure" in client.post("/dashboard/login", data={"token": ADMIN}).headers["Set-Cookie"]
    install(None)


def test_sessions_are_signed_expire_and_end_when_the_admin_token_changes() -> None:
    value, session = issue_session(ADMIN)
    assert read_session(ADMIN, value) == session
    assert read_session(ADMIN, value[:-2] + ("AA" if not value.endswith("AA") else "BB")) is None, "tampered"
    assert read_session("another-admin-token", value) is None, "a new admin_token ends every session"
    assert read_session(ADMIN, value, max_age=-1) is None, "expired"
    assert read_session(ADMIN, None) is None and read_session(ADMIN, "garbage") is None


def test_the_api_takes_the_bearer_or_the_session_and_nothing_else(pipe: Pipeline) -> None:
    assert pipe.client.get("/api/admin/tenants").status_code == 401
    assert pipe.client.get("/api/admin/tenants", headers=bearer("wrong")).status_code == 401
    sidebar_session = Sessions(pipe.redis).open(TENANT, None, "agent-1")
    assert pipe.client.get("/api/admin/tenants", headers=bearer(sidebar_session)).status_code == 401, (
        "an agent's sidebar session is not the admin"
    )
    answer = pipe.client.get("/api/admin/tenants", headers=bearer())
    assert answer.status_code == 200
    assert answer.get_json() == {
        "tenants": [{"name": TENANT, "vendor": "zendesk"}, {"name": "globex", "vendor": "zendesk"}]
    }
    pipe.client.set_cookie(COOKIE, "forged-value")
    assert pipe.client.get("/api/admin/tenants").status_code == 401
    log_in(pipe.client)
    assert pipe.client.get("/api/admin/tenants").status_code == 200
    assert pipe.client.get("/api/admin/tenants/nobody/kpis").status_code == 404


def _bury(pipe: Pipeline, ticket: str, kind: str = "ticket.updated") -> None:
    event = (
        f'{{"delivery_id": "d-{ticket}", "kind": "{kind}", "ticket_id": "{ticket}", '
        f'"occurred_at": "2026-03-02T14:00:00Z", "source": "webhook", "detail": {{}}}}'
    )
    pipe.runtime.queue.bury(TENANT, ticket, [event], "PermanentError: 422 Unprocessable", attempts=10)


def test_dead_letters_are_listed_and_replayed_with_the_sessions_csrf_token(pipe: Pipeline) -> None:
    for ticket in ("71", "72", "73"):
        _bury(pipe, ticket)
    pipe.runtime.queue.bury(TENANT, "74", ["{not json"], "unreadable event: JSONDecodeError")
    listed = pipe.client.get(f"/api/admin/tenants/{TENANT}/dead-letters", headers=bearer()).get_json()
    assert listed["count"] == 4 and [item["ticket_id"] for item in listed["dead_letters"]] == ["?", "73", "72", "71"]
    first = listed["dead_letters"][1]
    assert first["kind"] == "ticket.updated" and first["attempts"] == 10 and first["replayable"] is True
    assert first["error"].startswith("PermanentError") and first["buried_at"].endswith("Z")
    assert listed["dead_letters"][0]["replayable"] is False, "an unreadable event cannot go back"

    csrf = log_in(pipe.client)
    path = f"/api/admin/tenants/{TENANT}/dead-letters/replay"
    assert pipe.client.post(path, json={"tickets": ["71"]}).status_code == 403, "a session's POST needs its token"
    assert pipe.client.post(path, json={"tickets": ["71"]}, headers={CSRF_HEADER: "guess"}).status_code == 403
    assert pipe.redis.llen(keys.dead_letters(TENANT)) == 4
    answer = pipe.client.post(path, json={"tickets": ["71"]}, headers={CSRF_HEADER: csrf})
    assert answer.status_code == 200 and answer.get_json() == {"tenant": TENANT, "replayed": 1, "woken": True}
    assert [event.ticket_id for event in pipe.runtime.queue.pending(TENANT, "71")] == ["71"]
    assert pipe.redis.llen(keys.dead_letters(TENANT)) == 3

    everything = pipe.client.post(path, headers=bearer())  # a script: the bearer needs no CSRF token
    assert everything.status_code == 200 and everything.get_json()["replayed"] == 2
    assert pipe.client.post(path, json={"tickets": "73"}, headers=bearer()).status_code == 400
    left = pipe.client.get(f"/api/admin/tenants/{TENANT}/dead-letters", headers=bearer()).get_json()
    assert left["count"] == 1 and left["dead_letters"][0]["kind"] == "unreadable"


def test_logout_needs_the_csrf_token_and_ends_the_session(pipe: Pipeline) -> None:
    csrf = log_in(pipe.client)
    assert pipe.client.post("/dashboard/logout", data={"csrf": "x"}).status_code == 403
    assert pipe.client.get("/api/admin/tenants").status_code == 200
    answer = pipe.client.post("/dashboard/logout", data={"csrf": csrf})
    assert answer.status_code == 303 and f"{COOKIE}=;" in answer.headers["Set-Cookie"]
    assert pipe.client.get("/api/admin/tenants").status_code == 401
    assert 'name="token"' in pipe.client.get("/dashboard").get_data(as_text=True)


def test_kpis_by_day_from_what_the_pipeline_recorded(pipe: Pipeline) -> None:
    jane = pipe.desk.add_user("Jane Doe", "jane@globex.example")
    slow = int(pipe.desk.create_ticket("Dashboard is slow", "Pages take a minute to load.", jane)["id"])
    pipe.desk.create_ticket("How do I export?", "Where is the button?", jane)
    pipe.settle()
    pipe.desk.customer_comment(slow, "Now it is a full outage: nobody here can log in.")  # L1 -> L2
    pipe.settle()
    pipe.desk.add_comment(slow, "Looking at it now", public=True, author_id=901)
    pipe.desk.agent_update(slow, status="solved")
    pipe.settle()
    today = datetime.now(UTC).date()
    since = today - timedelta(days=6)
    answer = pipe.client.get(f"/api/admin/tenants/{TENANT}/kpis?since={since}&until={today}", headers=bearer())
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    report = answer.get_json()
    assert set(report) >= KPI_KEYS
    assert (report["tickets"], report["escalated"], report["escalations_by_target"]) == (2, 1, {"L2": 1})
    assert [row["day"] for row in report["series"]] == [str(since + timedelta(days=n)) for n in range(7)]
    assert report["series"][-1]["tickets"] == 2 and sum(row["tickets"] for row in report["series"]) == 2
    assert report["sla"]["first_response"]["met"] == 1

    default = pipe.client.get(f"/api/admin/tenants/{TENANT}/kpis", headers=bearer()).get_json()
    assert len(default["series"]) == 30 and default["until"] == str(today)
    for query, message in (
        ("since=yesterday", "since: expected a date"),
        (f"since={today}&until={since}", "is after until"),
        (f"since={today - timedelta(days=MAX_DAYS)}&until={today}", f"at most {MAX_DAYS}"),
    ):
        refused = pipe.client.get(f"/api/admin/tenants/{TENANT}/kpis?{query}", headers=bearer())
        assert refused.status_code == 400 and message in refused.get_json()["error"], query


def test_large_answers_are_gzipped_for_clients_that_accept_it(pipe: Pipeline) -> None:
    import gzip
    import json

    year = datetime.now(UTC).date() - timedelta(days=364)
    path = f"/api/admin/tenants/{TENANT}/kpis?since={year}"
    plain = pipe.client.get(path, headers=bearer())
    packed = pipe.client.get(path, headers={**bearer(), "Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.get_data())) == plain.get_json()
    assert len(packed.get_data()) < len(plain.get_data()) / 4 and "Accept-Encoding" in packed.headers["Vary"]


def test_live_state_per_tenant(pipe: Pipeline) -> None:
    jane = pipe.desk.add_user("Jane Doe", "jane@globex.example")
    pipe.desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", jane)
    pipe.settle()
    _bury(pipe, "99")
    pipe.desk.create_ticket("Another", "question", jane)
    pipe.deliver_pending()  # queued, not worked yet
    live = pipe.client.get("/api/admin/live", headers=bearer()).get_json()
    rows = {row["name"]: row for row in live["tenants"]}
    assert rows[TENANT] == {"name": TENANT, "vendor": "zendesk", "ready": 1, "processing": 0, "dead": 1,
                            "timers": pipe.runtime.timers(TENANT).count()}  # fmt: skip
    assert rows[TENANT]["timers"] > 0 and rows["globex"]["ready"] == rows["globex"]["timers"] == 0
    assert live["workers"] == {} and live["at"].endswith("Z")


def test_the_chart_library_is_the_published_build_with_its_licence_and_is_packaged(pipe: Pipeline) -> None:
    vendor = ROOT / "plugin" / "static" / "vendor" / "chartjs"
    readme = (vendor / "README.md").read_text()
    digest = hashlib.sha256((vendor / "chart.umd.min.js").read_bytes()).hexdigest()
    assert digest in readme, "README.md names the checksum of the file shipped"
    assert "MIT" in (vendor / "LICENSE.md").read_text() and (vendor / "LICENSE-kurkle-color.md").is_file()
    served = pipe.client.get("/dashboard/static/vendor/chartjs/chart.umd.min.js")
    assert served.status_code == 200 and served.get_data() == (vendor / "chart.umd.min.js").read_bytes()
    assert pipe.client.get("/dashboard/static/dashboard.js").status_code == 200

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    plugin = ROOT / "plugin"
    for path in [*plugin.glob("templates/dashboard*"), *plugin.glob("static/dashboard.*"), *vendor.iterdir()]:
        name = path.relative_to(plugin).as_posix()
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns["escalator.plugin"]), name


def test_redis_down_the_api_answers_503(desk: FakeZendesk) -> None:
    port = _free_port()  # nothing listens there
    config = Config(tenants={TENANT: tenant_config(desk.base_url)}, admin_token=ADMIN)
    client = create_app(Runtime(config, connect(f"redis://127.0.0.1:{port}/0", "receiver"))).test_client()
    answer = client.get("/api/admin/live", headers=bearer())
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert client.post("/dashboard/login", data={"token": ADMIN}).status_code == 303, "logging in needs no Redis"
