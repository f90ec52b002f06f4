"""`/api/admin/...`: the JSON the admin dashboard draws (plugin.dashboard), for scripts as much as for the page.

Who may call: `Authorization: Bearer <admin_token>`, or the dashboard's session cookie (set by the login form)
together with its CSRF token on every POST. Without `admin_token` configured every route answers 404, as
DESIGN §2 says; a wrong or missing credential answers 401; an unknown tenant 404.

The session cookie is signed (itsdangerous, HMAC-SHA256) with a key derived from `admin_token` itself: any
receiver process can check a session another one issued, nothing is stored, and changing `admin_token` ends
every session at once. It carries the session's CSRF token, which the page also holds (the cookie itself is
HttpOnly and SameSite=Strict, so other sites can neither read nor send it).

| request | answer |
|---|---|
| `GET /api/admin/tenants` | `{"tenants": [{"name", "vendor"}]}` |
| `GET /api/admin/live` | per tenant: queue backlog (ready, processing, dead) and armed timers; registered workers |
| `GET /api/admin/tenants/<t>/kpis?since=D&until=D` | `kpi_report(..., by_day=True)`: DESIGN §8 keys + `series` |
| `GET /api/admin/tenants/<t>/dead-letters` | the dead letters, newest first |
| `POST /api/admin/tenants/<t>/dead-letters/replay` | `{"tickets": [...]}` (none: all): re-queue them, wake a drain |
"""

from __future__ import annotations

import gzip
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Request, Response, abort, current_app, jsonify, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from escalator.plugin.keys import KPI_DAYS_KEPT
from escalator.plugin.metrics import DEFAULT_DAYS, kpi_report
from escalator.plugin.prometheus import read_workers
from escalator.plugin.queue import DeadLetter
from escalator.plugin.runtime import Runtime
from escalator.plugin.sessions import bearer, same_secret
from escalator.rules.model import format_instant

COOKIE = "escalator_admin"
SESSION_SECONDS = 12 * 3600
"""A dashboard session's life: a working day; then the admin logs in again."""
CSRF_HEADER = "X-Escalator-CSRF"
CSRF_FIELD = "csrf"
SALT = "escalator.dashboard.session"
MAX_DAYS = KPI_DAYS_KEPT
"""The longest KPI window: the daily aggregates are kept this long."""
GZIP_MIN_BYTES = 16 * 1024
"""Answers smaller than this go uncompressed (not worth the CPU)."""
DEAD_LETTERS_SHOWN = 500
"""Dead letters one answer lists (newest first); `count` says how many there are."""

blueprint = Blueprint("admin_api", __name__)

View = TypeVar("View", bound=Callable[..., Any])


def runtime() -> Runtime:
    found: Runtime = current_app.extensions["escalator"]
    return found


# --- sessions ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminSession:
    csrf: str
    """The token every state-changing request made with this session must carry."""


def _serializer(admin_token: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(admin_token, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def issue_session(admin_token: str) -> tuple[str, AdminSession]:
    """A new session: the cookie's value and what it holds."""
    session = AdminSession(csrf=secrets.token_urlsafe(24))
    return str(_serializer(admin_token).dumps({"c": session.csrf})), session


def read_session(admin_token: str, cookie: str | None, max_age: int = SESSION_SECONDS) -> AdminSession | None:
    """The session a cookie carries, if it is one of ours, untampered and younger than `max_age`."""
    if not cookie:
        return None
    try:
        claims = _serializer(admin_token).loads(cookie, max_age=max_age)
    except BadSignature:  # also SignatureExpired
        return None
    csrf = claims.get("c") if isinstance(claims, dict) else None
    return AdminSession(csrf) if isinstance(csrf, str) and csrf else None


def set_session_cookie(response: BaseResponse, value: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE, value, max_age=SESSION_SECONDS, path="/", secure=secure, httponly=True, samesite="Strict"
    )


def clear_session_cookie(response: BaseResponse, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="Strict")


def secure_cookies(req: Request, public_url: str) -> bool:
    """Cookies only over https when the deployment is reached over https (directly or behind a proxy)."""
    return req.is_secure or public_url.startswith("https://")


def admin_only(view: View) -> View:
    """404 without `admin_token`; 401 without the bearer or a session; 403 for a session's POST without its
    CSRF token."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        admin_token = runtime().config.admin_token
        if not admin_token:
            abort(404)
        if same_secret(bearer(request.headers.get("Authorization")), admin_token):
            return view(*args, **kwargs)
        session = read_session(admin_token, request.cookies.get(COOKIE))
        if session is None:
            answer = jsonify(error="log in at /dashboard, or give Authorization: Bearer <admin_token>")
            answer.headers["WWW-Authenticate"] = 'Bearer realm="escalator"'
            return answer, 401
        if request.method not in ("GET", "HEAD") and not same_secret(request.headers.get(CSRF_HEADER), session.csrf):
            return jsonify(error=f"missing or wrong {CSRF_HEADER} header"), 403
        return view(*args, **kwargs)

    return cast(View, guarded)


def _tenant(name: str) -> str:
    if name not in runtime().config.tenants:
        abort(404)
    return name


def _no_store(answer: Response) -> Response:
    answer.headers["Cache-Control"] = "no-store"
    return answer


@blueprint.after_request
def compress(answer: Response) -> Response:
    """A year of daily KPIs is ~600 KiB of JSON and ~10 times less gzipped: compress large answers for
    clients that accept it (browsers do), so the dashboard stays quick over a slow link."""
    if (
        answer.direct_passthrough
        or answer.status_code != 200
        or "Content-Encoding" in answer.headers
        or "gzip" not in request.headers.get("Accept-Encoding", "")
    ):
        return answer
    body = answer.get_data()
    if len(body) >= GZIP_MIN_BYTES:
        answer.set_data(gzip.compress(body, compresslevel=5))
        answer.headers["Content-Encoding"] = "gzip"
    answer.vary.add("Accept-Encoding")
    return answer


@blueprint.errorhandler(404)
def not_found(_: Exception) -> tuple[Response, int]:
    return jsonify(error="not found"), 404


# --- routes -----------------------------------------------------------------------------------------------------


@blueprint.get("/api/admin/tenants")
@admin_only
def tenants() -> Response:
    config = runtime().config
    return _no_store(
        jsonify(tenants=[{"name": name, "vendor": config.tenants[name].vendor} for name in sorted(config.tenants)])
    )


@blueprint.get("/api/admin/live")
@admin_only
def live() -> Response:
    """What is happening now: each tenant's queue and timers, and the registered workers."""
    found = runtime()
    rows = []
    for name in sorted(found.config.tenants):
        backlog = found.queue.backlog(name)
        rows.append(
            {"name": name, "vendor": found.config.tenants[name].vendor, **backlog, "timers": found.timers(name).count()}
        )
    workers: dict[str, int] = {}
    for worker in read_workers(found.jobs, found.redis):
        workers[worker.state] = workers.get(worker.state, 0) + 1
    return _no_store(
        jsonify(at=format_instant(datetime.now(UTC).replace(microsecond=0)), tenants=rows, workers=workers)
    )


class BadQuery(ValueError):
    """A query parameter the endpoint cannot use; the message says what was expected."""


def _day(name: str, default: date) -> date:
    text = request.args.get(name)
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"{name}: expected a date such as 2026-03-09, got {text!r}") from None


def window(today: date) -> tuple[date, date]:
    """The `since`..`until` of a KPI request (UTC dates, both included; default the last 30 days)."""
    until = _day("until", today)
    since = _day("since", until - timedelta(days=DEFAULT_DAYS - 1))
    if since > until:
        raise BadQuery(f"since ({since}) is after until ({until})")
    if (until - since).days + 1 > MAX_DAYS:
        raise BadQuery(f"the window is {(until - since).days + 1} days; at most {MAX_DAYS} are kept")
    return since, until


@blueprint.get("/api/admin/tenants/<tenant>/kpis")
@admin_only
def kpis(tenant: str) -> tuple[Response, int]:
    """The §8 report for `since`..`until` by day (`series`: one entry per day, oldest first)."""
    name = _tenant(tenant)
    try:
        since, until = window(datetime.now(UTC).date())
    except BadQuery as problem:
        return jsonify(error=str(problem)), 400
    return _no_store(jsonify(kpi_report(runtime().redis, name, since, until, by_day=True))), 200


def _instant(epoch: float) -> str | None:
    return format_instant(datetime.fromtimestamp(int(epoch), UTC)) if epoch else None


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    event = letter.event
    return {
        "ticket_id": letter.ticket_id,
        "kind": event.get("kind") or ("unreadable" if "unreadable" in event else None),
        "delivery_id": event.get("delivery_id"),
        "occurred_at": event.get("occurred_at"),
        "error": letter.error,
        "buried_at": _instant(letter.buried_at),
        "attempts": letter.attempts,
        "replayable": "kind" in event,
    }


@blueprint.get("/api/admin/tenants/<tenant>/dead-letters")
@admin_only
def dead_letters(tenant: str) -> Response:
    letters = runtime().queue.dead_letters(_tenant(tenant))
    shown = [letter_json(letter) for letter in reversed(letters[-DEAD_LETTERS_SHOWN:])]
    return _no_store(jsonify(tenant=tenant, count=len(letters), dead_letters=shown))


@blueprint.post("/api/admin/tenants/<tenant>/dead-letters/replay")
@admin_only
def replay(tenant: str) -> tuple[Response, int]:
    """Put the dead letters of `tickets` (all when none are named) back in the queue and wake a drain."""
    name = _tenant(tenant)
    body = request.get_json(silent=True) if request.data else {}
    wanted = body.get("tickets", []) if isinstance(body, dict) else None
    if not isinstance(wanted, list) or not all(isinstance(item, (str, int)) for item in wanted):
        return jsonify(error='expected {"tickets": ["<ticket id>", ...]} (empty or absent: all)'), 400
    found = runtime()
    replayed = found.queue.replay(name, [str(item) for item in wanted])
    woken = found.wake(name) if replayed else False
    return jsonify(tenant=name, replayed=replayed, woken=woken), 200
