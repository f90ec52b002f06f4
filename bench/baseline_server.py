"""Baseline receiver: a bare Flask endpoint doing one Redis LPUSH, under the same server settings as ours
(waitress here, or gunicorn through `create_app()` with BASELINE_REDIS_URL set)."""

from __future__ import annotations

import argparse
import os

import redis
import waitress
from flask import Flask, request


def create_app(url: str | None = None) -> Flask:
    connection = redis.Redis.from_url(url or os.environ["BASELINE_REDIS_URL"])
    app = Flask("baseline")

    @app.get("/")
    def index() -> tuple[str, int]:
        return "", 200

    @app.post("/webhooks/zendesk/<tenant>")
    def receive(tenant: str) -> tuple[str, int]:
        connection.lpush(f"baseline:{tenant}", request.get_data())
        return "", 202

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    waitress.serve(create_app(args.redis), host="127.0.0.1", port=args.port, threads=args.threads, _quiet=True)


if __name__ == "__main__":
    main()
