"""The Flask application factory: the webhook receiver, health and metrics, the Zendesk sidebar, and the admin
dashboard with its JSON API, around one Runtime."""

from __future__ import annotations

import redis
from flask import Flask

from escalator.plugin.admin_api import blueprint as admin_api
from escalator.plugin.dashboard import blueprint as dashboard
from escalator.plugin.runtime import Runtime
from escalator.plugin.sidebar import blueprint as sidebar
from escalator.plugin.webhooks import MAX_BODY_BYTES, blueprint, health, unavailable


def create_app(runtime: Runtime) -> Flask:
    app = Flask("escalator")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["escalator"] = runtime
    app.register_blueprint(blueprint)
    app.register_blueprint(health)
    app.register_blueprint(sidebar)
    app.register_blueprint(admin_api)
    app.register_blueprint(dashboard)
    app.register_error_handler(redis.RedisError, unavailable)
    return app
