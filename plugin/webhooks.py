"""`POST /webhooks/<vendor>/<tenant>`: verify, parse, deduplicate, queue. Never calls a vendor API.

Order of checks (as in Sentry's and GitHub's receivers): who is this for, is it too big, is it signed by
the tenant's help desk (on the raw bytes, constant-time), and only then parse.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from flask import Blueprint, Response, current_app, jsonify, request

from escalator.connectors.errors import WebhookRejected
from escalator.connectors.registry import CONNECTORS
from escalator.plugin.metrics import prometheus
from escalator.plugin.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
"""Ticket event payloads are a few KB; a comment body is at most 64 KB at Zendesk."""

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
        return _answer(404, error="unknown tenant or vendor")
    try:
        body = _read_body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        connector.verify(config.as_mapping(), body, headers, datetime.now(UTC))
        inbound = connector.parse(body, headers)
    except WebhookRejected as rejection:
        log.info("webhook for %s refused (%d): %s", tenant, rejection.status, rejection.reason)
        return _answer(rejection.status, error=rejection.reason)
    if inbound.event is None:
        return _answer(200, status="ignored", reason=inbound.ignored)
    try:
        if not runtime.accept(tenant, inbound.event):
            return _answer(200, status="duplicate")
    except redis.RedisError as error:
        # Not queued: a 503 makes the help desk deliver again later instead of losing the event.
        log.error("could not queue a webhook for %s: %s", tenant, error)
        return _answer(503, error="queue unavailable, retry later")
    return _answer(202, status="accepted", event=inbound.event.kind, ticket=inbound.event.ticket_id)


health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> tuple[Response, int]:
    return _answer(200, status="up")


@health.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: per-tenant counters, queue backlog and armed timers."""
    runtime: Runtime = current_app.extensions["escalator"]
    text = prometheus(runtime.redis, sorted(runtime.config.tenants), runtime.timers.count())
    return Response(text, mimetype="text/plain; version=0.0.4")


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    runtime: Runtime = current_app.extensions["escalator"]
    try:
        runtime.redis.ping()
    except redis.RedisError as error:
        return _answer(503, status="redis unavailable", error=str(error))
    return _answer(200, status="ready")
