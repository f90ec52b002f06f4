"""The fake Zendesk as a separate process for benchmarks: N outage tickets, served by waitress.

`GET /_bench/stats` answers how many writes arrived and when each ticket's last one did (for latency).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import waitress
from flask import jsonify

from escalator.fakedesk.zendesk import FakeZendesk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tickets", type=int, required=True)
    parser.add_argument("--subject", default="Outage: cannot log in")
    parser.add_argument("--description", default="Nobody on our team can sign in.")
    args = parser.parse_args()

    desk = FakeZendesk(echo=False)
    requester = desk.add_user("Jane Doe", "jane@globex.example")
    for _ in range(args.tickets):
        desk.create_ticket(args.subject, args.description, requester)
    last_write: dict[str, float] = {}
    lock = threading.Lock()

    def stamp(line: str) -> None:
        if line.startswith("PUT /api/v2/tickets/"):
            with lock:
                last_write[line.split("/")[-1].removesuffix(".json")] = time.time()

    desk.hooks.append(stamp)

    @desk.app.get("/_bench/stats")
    def stats() -> Any:
        with lock:
            return jsonify({"writes": len(desk.writes), "last_write": dict(last_write)})

    waitress.serve(desk.app, host="127.0.0.1", port=args.port, threads=8, _quiet=True)


if __name__ == "__main__":
    main()
