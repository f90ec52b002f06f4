"""The Zendesk app's ticket sidebar and the escalation JSON it reads (DESIGN §4).

`POST /apps/zendesk/<tenant>/sidebar`: Zendesk opens the app's page with a form POST whose `token` is the ZAF
JWT (plugin.zendesk_app verifies it). The page that comes back holds a session token (plugin.sessions) for
that tenant — and for that ticket when Zendesk's token names it — and shows the ticket's escalation at once
when the ticket is known; its script keeps the countdowns running and refreshes the data from
`GET /api/tenants/<tenant>/tickets/<id>/escalation` with the session token, renewing it as it goes.

When Zendesk's token names no ticket, the page asks the Zendesk Apps framework which ticket it sits beside
(the ZAF SDK, served by Zendesk); the session then reads any ticket of the tenant, as any agent of the
account may, and never another tenant's.

Answers: 404 for an unknown tenant, one that is not on Zendesk or has no `zendesk_app` settings; 401 for a
missing, forged or expired token or one meant for another account or installation. The escalation endpoint
answers 401 without a valid bearer (the admin token or a session), 404 when the bearer may not see that
tenant or ticket (a token of another tenant), and 404 for a ticket Escalator has never seen.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from escalator.plugin.explain import load
from escalator.plugin.runtime import Runtime
from escalator.plugin.sessions import Sessions, authenticate
from escalator.plugin.zendesk_app import AppNotConfigured, AppTokenRejected, verify_app_token, zendesk_host

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60
"""How often the page re-reads the escalation JSON (the countdowns tick every second in between)."""
ZAF_ORIGIN = "https://static.zdassets.com"
ZAF_SDK = f"{ZAF_ORIGIN}/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"
"""Zendesk's own SDK, loaded only when Zendesk's token did not say which ticket the sidebar is beside."""
TICKET_PLACEHOLDER = "__ticket__"
"""Stands for the ticket id in the endpoint address the page is given (its script fills it in)."""
SESSION_HEADER = "X-Escalator-Session"
"""A renewed session token, sent with an escalation answer when the presented one is past half its life."""

blueprint = Blueprint(
    "sidebar",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/apps/zendesk/static",
)


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["escalator"]
    return runtime


def _page(template: str, status: int, frame_host: str | None = None, **context: object) -> Response:
    """A page with a strict policy: our script and style only (and Zendesk's SDK when it is needed); the
    page with a session in it may be framed only by the tenant's Zendesk."""
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    scripts = "'self'" + (f" {ZAF_ORIGIN}" if context.get("zaf_sdk") else "")
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'"
    )
    if frame_host:
        policy += f"; frame-ancestors https://{frame_host}"
    response.headers["Content-Security-Policy"] = policy
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.post("/apps/zendesk/<tenant>/sidebar")
def sidebar(tenant: str) -> Response:
    runtime = _runtime()
    config = runtime.config.tenants.get(tenant)
    if config is None:
        return _page("sidebar_error.html", 404, message="Escalator has no tenant of this name.")
    try:
        token = verify_app_token(request.form.get("token", ""), config, time.time())
    except AppNotConfigured:  # no zendesk_app settings (which only a Zendesk tenant can have)
        return _page("sidebar_error.html", 404, message="The Escalator app is not set up for this account yet.")
    except AppTokenRejected as rejection:
        log.info("sidebar of %s refused: %s", tenant, rejection)
        return _page("sidebar_error.html", 401, message="Escalator could not verify that Zendesk opened this page.")
    session = Sessions(runtime.redis).open(tenant, token.ticket, token.user)
    now = datetime.now(UTC)
    found = load(runtime.redis, runtime.policy(tenant), tenant, token.ticket, now) if token.ticket else None
    return _page(
        "sidebar.html",
        200,
        zendesk_host(config),
        session=session,
        api=url_for("sidebar.escalation", tenant=tenant, ticket_id=TICKET_PLACEHOLDER),
        placeholder=TICKET_PLACEHOLDER,
        ticket=token.ticket or "",
        data=found.to_json() if found else None,
        refresh=REFRESH_SECONDS,
        zaf_sdk=ZAF_SDK if token.ticket is None else None,
    )


@blueprint.get("/api/tenants/<tenant>/tickets/<ticket_id>/escalation")
def escalation(tenant: str, ticket_id: str) -> tuple[Response, int]:
    runtime = _runtime()
    sessions = Sessions(runtime.redis)
    access = authenticate(runtime.config, sessions, request.headers.get("Authorization"))
    if access is None:
        answer = jsonify(error="give Authorization: Bearer <admin token or sidebar session>")
        answer.headers["WWW-Authenticate"] = 'Bearer realm="escalator"'
        return answer, 401
    if tenant not in runtime.config.tenants or not access.allows(tenant, ticket_id):
        return jsonify(error="no such tenant or ticket"), 404
    found = load(runtime.redis, runtime.policy(tenant), tenant, ticket_id, datetime.now(UTC))
    if found is None:
        return jsonify(error=f"Escalator has no record of ticket {ticket_id}"), 404
    answer = jsonify(found.to_json())
    answer.headers["Cache-Control"] = "no-store"
    renewed = sessions.renewal(access.session) if access.session is not None else None
    if renewed is not None:
        answer.headers[SESSION_HEADER] = renewed
    return answer, 200
