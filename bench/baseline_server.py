"""Baseline receiver: a bare Flask endpoint doing one Redis LPUSH, under the same waitress settings."""

from __future__ import annotations

import argparse

import redis
import waitress
from flask import Flask, request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    connection = redis.Redis.from_url(args.redis)
    app = Flask("baseline")

    @app.post("/webhooks/zendesk/<tenant>")
    def receive(tenant: str) -> tuple[str, int]:
        connection.lpush(f"baseline:{tenant}", request.get_data())
        return "", 202

    waitress.serve(app, host="127.0.0.1", port=args.port, threads=args.threads, _quiet=True)


if __name__ == "__main__":
    main()
