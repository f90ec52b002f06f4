"""`GET /dashboard`: the admin dashboard — KPI charts over time and the live state (queue, timers, dead letters).

Behind `admin_token` (DESIGN §2, §4): without it configured the page answers 404. The page is a login form
until the admin posts the token (`POST /dashboard/login`); then a session cookie (plugin.admin_api: signed,
HttpOnly, SameSite=Strict) lets the page's script read `/api/admin/...` and replay dead letters (POST, with
the session's CSRF token). `POST /dashboard/logout` ends the session.

Everything the page loads comes from this server — its script, its style and the chart library (Chart.js,
shipped in `static/vendor/chartjs/`): an agent's or admin's browser may not reach a CDN, and the strict
Content-Security-Policy (`'self'` only, no inline script) would refuse one anyway.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from escalator.plugin.admin_api import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    clear_session_cookie,
    issue_session,
    read_session,
    runtime,
    secure_cookies,
    set_session_cookie,
)
from escalator.plugin.sessions import same_secret

log = logging.getLogger(__name__)

CHART_LIBRARY = "vendor/chartjs/chart.umd.min.js"
"""Chart.js (MIT), its UMD build as published on npm; see static/vendor/chartjs/README.md."""
LIVE_REFRESH_SECONDS = 15
"""How often the page re-reads the live state (queue, timers, dead letters)."""
RANGES = (7, 30, 90, 365)
"""The windows the page offers, in days."""
DEFAULT_RANGE = 30

blueprint = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dashboard/static",
)


def _admin_token() -> str:
    token = runtime().config.admin_token
    if not token:
        abort(404)
    return token


def _page(template: str, status: int = 200, **context: object) -> Response:
    """A page with a strict policy: our own script, style and data only; never framed."""
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.get("/dashboard")
def dashboard() -> Response:
    admin_token = _admin_token()
    session = read_session(admin_token, request.cookies.get(COOKIE))
    if session is None:
        return _page("dashboard_login.html")
    tenants = [{"name": name, "vendor": tenant.vendor} for name, tenant in sorted(runtime().config.tenants.items())]
    return _page(
        "dashboard.html",
        csrf=session.csrf,
        csrf_header=CSRF_HEADER,
        csrf_field=CSRF_FIELD,
        tenants=json.dumps(tenants),
        api=url_for("admin_api.tenants").removesuffix("/tenants"),
        chart_library=CHART_LIBRARY,
        refresh=LIVE_REFRESH_SECONDS,
        ranges=RANGES,
        default_range=DEFAULT_RANGE,
    )


@blueprint.post("/dashboard/login")
def login() -> BaseResponse:
    admin_token = _admin_token()
    if not same_secret(request.form.get("token"), admin_token):
        log.info("dashboard login refused (from %s)", request.remote_addr)
        return _page("dashboard_login.html", 401, message="That is not the admin token.")
    value, _ = issue_session(admin_token)
    response = redirect(url_for("dashboard.dashboard"), 303)
    set_session_cookie(response, value, secure_cookies(request, runtime().config.public_url))
    return response


@blueprint.post("/dashboard/logout")
def logout() -> BaseResponse:
    admin_token = _admin_token()
    session = read_session(admin_token, request.cookies.get(COOKIE))
    if session is not None and not same_secret(request.form.get(CSRF_FIELD), session.csrf):
        return _page("dashboard_login.html", 403, message="Log out from the dashboard's own button.")
    response = redirect(url_for("dashboard.dashboard"), 303)
    clear_session_cookie(response, secure_cookies(request, runtime().config.public_url))
    return response
