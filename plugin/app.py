"""The Flask application factory: the webhook receiver and health endpoints around one Runtime."""

from __future__ import annotations

import redis
from flask import Flask

from escalator.plugin.runtime import Runtime
from escalator.plugin.webhooks import MAX_BODY_BYTES, blueprint, health, unavailable


def create_app(runtime: Runtime) -> Flask:
    app = Flask("escalator")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["escalator"] = runtime
    app.register_blueprint(blueprint)
    app.register_blueprint(health)
    app.register_error_handler(redis.RedisError, unavailable)
    return app
