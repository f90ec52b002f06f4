"""The fake Zendesk as a separate process for benchmarks, served by waitress.

`POST /_bench/tickets {"count", "subject", "description", "at"?}` opens tickets and answers their
`ticket.created` webhook payloads exactly as the desk would send them (so a write-back's `safe_update` stamp
matches the desk's ticket, as in production). `GET /_bench/stats` answers how many writes arrived and when
each ticket's last one did (for latency). Both need the bench's bearer token.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime
from typing import Any

import waitress
from flask import jsonify, request

from escalator.fakedesk.zendesk import FakeZendesk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--tickets", type=int, default=0, help="tickets to open at start (ids 1..N)")
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

    @desk.app.post("/_bench/tickets")
    def tickets() -> Any:
        spec = request.get_json()
        at = datetime.fromisoformat(spec["at"]) if spec.get("at") else None
        payloads = []
        for _ in range(int(spec["count"])):
            ticket = desk.create_ticket(spec["subject"], spec["description"], requester, at=at)
            when = at or datetime.now(UTC)
            payloads.append(desk.event_payload("ticket.created", ticket, {"meta": {}}, actor=requester, at=when))
        return jsonify({"payloads": payloads})

    @desk.app.get("/_bench/stats")
    def stats() -> Any:
        with lock:
            return jsonify({"writes": len(desk.writes), "last_write": dict(last_write)})

    waitress.serve(desk.app, host="127.0.0.1", port=args.port, threads=args.threads, _quiet=True)


if __name__ == "__main__":
    main()
