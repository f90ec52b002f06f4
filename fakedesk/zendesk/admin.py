"""The fake Zendesk's admin APIs that `escalator install` uses: webhooks and their signing secrets, apps.

Webhooks are either event-subscribed or trigger-connected, never both, and event subscriptions need POST and
JSON, as Zendesk validates them. An app's public key (`GET /api/v2/apps/{id}/public_key.pem`) verifies the
JWT Zendesk posts to a signed-URL app location.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from escalator.fakedesk.base import cursor_page, iso
from escalator.fakedesk.zendesk.account import NOT_FOUND, OWN_USER_ID

if TYPE_CHECKING:
    from escalator.fakedesk.zendesk.desk import FakeZendesk

REQUIRED = ("name", "endpoint", "http_method", "request_format", "status")
WEBHOOK_NOT_FOUND = {"errors": [{"code": "WebhookNotFound", "title": "Webhook not found"}]}


def _problem(detail: str, source: str | None = None) -> dict[str, str]:
    found = {"code": "InvalidInput", "title": "Invalid input", "detail": detail}
    return {**found, "source": source} if source else found


def webhook_problems(webhook: dict[str, Any]) -> list[dict[str, str]]:
    problems = [_problem(f"{name} is required", name) for name in REQUIRED if not webhook.get(name)]
    subscriptions = webhook.get("subscriptions") or []
    events = [item for item in subscriptions if str(item).startswith("zen:event-type:")]
    if events and "conditional_ticket_events" in subscriptions:
        problems.append(_problem("events and triggers cannot be mixed"))
    if events and (webhook.get("http_method") != "POST" or webhook.get("request_format") != "json"):
        problems.append(_problem("event subscriptions need POST and json"))
    return problems


def add_routes(app: Flask, fake: FakeZendesk) -> None:
    add_webhook_routes(app, fake)

    @app.get("/api/v2/apps/<int:app_id>/public_key.pem")
    def public_key(app_id: int) -> Response | tuple[Response, int]:
        if fake.app_public_key is None:
            return jsonify(NOT_FOUND), 404
        return Response(fake.app_public_key, mimetype="application/x-pem-file")

    @app.get("/api/v2/apps/installations.json")
    @app.get("/api/v2/apps/installations")
    def installations() -> Response:
        return jsonify({"installations": fake.installations})


def add_webhook_routes(app: Flask, fake: FakeZendesk) -> None:
    @app.get("/api/v2/webhooks")
    def list_webhooks() -> Response:
        size = min(100, int(request.args.get("page[size]", 100)))
        chunk, more = cursor_page(sorted(fake.webhooks), request.args.get("page[after]"), size)
        nxt = f"{fake.base_url}/api/v2/webhooks?page[size]={size}&page[after]={chunk[-1]}" if more else None
        return jsonify(
            {
                "webhooks": [fake.webhooks[i] for i in chunk],
                "meta": {"has_more": more, "after_cursor": chunk[-1] if more else None, "before_cursor": None},
                "links": {"next": nxt, "prev": None},
            }
        )

    @app.post("/api/v2/webhooks")
    def create_webhook() -> tuple[Response, int]:
        webhook = dict((request.get_json(silent=True) or {}).get("webhook") or {})
        problems = webhook_problems(webhook)
        if problems:
            return jsonify({"errors": problems}), 400
        webhook_id = f"01HZESCALATOR{next(fake._webhook_ids):013d}"
        stamp = iso(datetime.now(UTC))
        webhook.update(id=webhook_id, created_at=stamp, updated_at=stamp, created_by=str(OWN_USER_ID))
        fake.webhooks[webhook_id] = webhook
        fake.signing_secrets[webhook_id] = secrets.token_urlsafe(32)
        return jsonify({"webhook": webhook}), 201

    @app.get("/api/v2/webhooks/<webhook_id>")
    def show_webhook(webhook_id: str) -> Response | tuple[Response, int]:
        if webhook_id not in fake.webhooks:
            return jsonify(WEBHOOK_NOT_FOUND), 404
        return jsonify({"webhook": fake.webhooks[webhook_id]})

    @app.patch("/api/v2/webhooks/<webhook_id>")
    def patch_webhook(webhook_id: str) -> Response | tuple[Response, int] | tuple[str, int]:
        if webhook_id not in fake.webhooks:
            return jsonify(WEBHOOK_NOT_FOUND), 404
        changes = dict((request.get_json(silent=True) or {}).get("webhook") or {})
        merged = {**fake.webhooks[webhook_id], **changes}
        problems = webhook_problems(merged)
        if problems:
            return jsonify({"errors": problems}), 400
        merged["updated_at"] = iso(datetime.now(UTC))
        fake.webhooks[webhook_id] = merged
        return "", 204

    @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
    def signing_secret(webhook_id: str) -> Response | tuple[Response, int]:
        if webhook_id not in fake.webhooks:
            return jsonify(WEBHOOK_NOT_FOUND), 404
        return jsonify({"signing_secret": {"algorithm": "SHA256", "secret": fake.signing_secrets[webhook_id]}})
