"""`POST /webhooks/<vendor>/<tenant>`: verify, parse, deduplicate, queue. Never calls a vendor API.

Order of checks (as in Sentry's and GitHub's receivers): who is this for, is it too big, is it signed by
the tenant's help desk (on the raw bytes, constant-time), and only then parse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import redis
from flask import Blueprint, Response, current_app, jsonify, request

from escalator.connectors.base import Inbound
from escalator.connectors.errors import WebhookRejected
from escalator.connectors.registry import CONNECTORS
from escalator.plugin import keys
from escalator.plugin.logs import throttled
from escalator.plugin.prometheus import CONTENT_TYPE, exposition, read, webhook_field
from escalator.plugin.queue import Counting
from escalator.plugin.runtime import Runtime
from escalator.rules.model import TicketEvent

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
"""Ticket event payloads are a few KB; a comment body is at most 64 KB at Zendesk."""
RETRY_AFTER_SECONDS = 10
"""What a 503 asks the help desk to wait: Zendesk honours a Retry-After of up to a minute."""
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(days=1)
"""An event dated further ahead than this is not a real delivery; queued, it would move a ticket's clocks
(anchors only move forward) and its timers into a future that never comes."""
MAX_ID_LENGTH = 256

ANSWER_COUNTS = Counting(accepted=webhook_field("accepted", 202), duplicate=webhook_field("duplicate", 200))
"""How the intake step counts a queued event and a repeat delivery for `GET /metrics`."""

blueprint = Blueprint("webhooks", __name__)


def _answer(code: int, **body: object) -> tuple[Response, int]:
    return jsonify(body), code


def _read_body() -> bytes:
    """The raw body, refusing oversize ones even without a Content-Length (chunked uploads)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"body over {MAX_BODY_BYTES} bytes")
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"body over {MAX_BODY_BYTES} bytes")
    return body


@blueprint.post("/webhooks/<vendor>/<tenant>")
def receive(vendor: str, tenant: str) -> tuple[Response, int]:
    runtime: Runtime = current_app.extensions["escalator"]
    connector = CONNECTORS.get(vendor)
    config = runtime.config.tenants.get(tenant)
    if connector is None or config is None or config.vendor != vendor:
        if config is not None:
            _count(runtime, tenant, "refused", 404)
        return _answer(404, error="unknown tenant or vendor")
    try:
        body = _read_body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        connector.verify(config.settings(), body, headers, datetime.now(UTC))
        inbound = _parse(connector.parse, body, headers)
        if inbound.event is not None:
            _check_event(inbound.event, datetime.now(UTC))
    except WebhookRejected as rejection:
        log.info("webhook for %s refused (%d): %s", tenant, rejection.status, rejection.reason)
        _count(runtime, tenant, "refused", rejection.status)
        return _answer(rejection.status, error=rejection.reason)
    if inbound.event is None:
        _count(runtime, tenant, "ignored", 200)
        return _answer(200, status="ignored", reason=inbound.ignored)
    # Queued and counted in one step (one round trip); a Redis error here is answered 503 (see unavailable()).
    if not runtime.accept(tenant, inbound.event, ANSWER_COUNTS):
        return _answer(200, status="duplicate")
    return _answer(202, status="accepted", event=inbound.event.kind, ticket=inbound.event.ticket_id)


def _count(runtime: Runtime, tenant: str, outcome: str, status: int) -> None:
    """Count the answer for `GET /metrics` (one HINCRBY); a Redis outage never turns it into a failure."""
    try:
        runtime.redis.hincrby(keys.metrics(tenant), webhook_field(outcome, status), 1)
    except redis.RedisError as error:
        throttled(log, logging.WARNING, "webhook count", "webhook outcome not counted (Redis): %s", error)


def _parse(parse: Callable[[bytes, Mapping[str, str]], Inbound], body: bytes, headers: Mapping[str, str]) -> Inbound:
    """A signed body the connector cannot read is refused with a reason (400), never answered 500: a 5xx would
    only make the help desk send the same bytes again."""
    try:
        return parse(body, headers)
    except WebhookRejected:
        raise
    except RecursionError:
        raise WebhookRejected(400, "JSON nested too deeply") from None
    except Exception as error:  # a payload shape no parser expected; say what, keep serving
        throttled(log, logging.WARNING, "unreadable webhook payload", "unreadable payload: %r", error)
        raise WebhookRejected(400, f"payload not understood ({type(error).__name__})") from None


def _check_event(event: TicketEvent, now: datetime) -> None:
    """What every vendor's event must satisfy before it may be queued (the key names and clocks rely on it)."""
    for name, value in (("event id", event.delivery_id), ("ticket id", event.ticket_id)):
        if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
            raise WebhookRejected(400, f"{name} is empty, too long or not printable")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise WebhookRejected(400, f"{name} is not valid Unicode text") from None
    if not EARLIEST_EVENT <= event.occurred_at <= now + FUTURE_SKEW:
        raise WebhookRejected(400, f"event time {event.occurred_at.isoformat()} is not a plausible delivery time")


def unavailable(error: redis.RedisError) -> Response:
    """Redis is unreachable: `503` with `Retry-After`, within the client's short timeouts (never a 500 or a
    hang), so the help desk delivers again later and nothing is lost."""
    throttled(log, logging.ERROR, "redis unavailable (receiver)", "Redis unavailable, answering 503: %s", error)
    if request.path == "/metrics":
        response = Response("redis unavailable\n", status=503, mimetype="text/plain")
    else:
        response = jsonify(error="queue unavailable, retry later")
        response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> tuple[Response, int]:
    return _answer(200, status="up")


@health.get("/metrics")
def metrics() -> Response:
    """Prometheus text format (plugin.prometheus): counters, histograms, queue, timers, workers, reconciliation."""
    runtime: Runtime = current_app.extensions["escalator"]
    tenants = [
        (name, runtime.timers(name).pending_key, runtime.config.tenants[name].reconcile_every)
        for name in sorted(runtime.config.tenants)
    ]
    return Response(exposition(read(runtime.redis, tenants, runtime.jobs)), content_type=CONTENT_TYPE)


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    runtime: Runtime = current_app.extensions["escalator"]
    try:
        runtime.redis.ping()
    except redis.RedisError as error:
        answer, status = _answer(503, status="not ready", reason=f"Redis unavailable: {error}")
        answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return answer, status
    return _answer(200, status="ready")
