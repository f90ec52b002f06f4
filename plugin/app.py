"""The Flask application factory: the webhook receiver and health endpoints around one Runtime."""

from __future__ import annotations

from flask import Flask

from escalator.plugin.runtime import Runtime
from escalator.plugin.webhooks import MAX_BODY_BYTES, blueprint, health


def create_app(runtime: Runtime) -> Flask:
    app = Flask("escalator")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["escalator"] = runtime
    app.register_blueprint(blueprint)
    app.register_blueprint(health)
    return app
