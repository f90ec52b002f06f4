"""A fake Zendesk in its own process for the fault suite, with a control API the tests drive over HTTP.

    python -m tests.faults.deskserver --port P --requester NAME

Control routes (test-only, under `/_control/`):
- `POST tickets {"count", "subject", "description"}` opens tickets; answers their ids and the webhook
  payloads Zendesk would send (the test signs and delivers them itself, as faulty as it likes);
- `POST outage {"status", "seconds", "retry_after"}`: every API call answers `status` for that long;
- `POST fault {"pattern", "status", "times", "retry_after", "delay"}` / `POST drop {"pattern", "times"}`
  (the connection is closed, the request not handled) / `POST lose {"pattern", "times"}` (the request IS
  handled, then the connection is closed before the answer: the write landed, the sender cannot know);
- `POST slow {"pattern", "seconds", "times"}`: answered normally, after a wait;
- `GET writes`: every ticket update Escalator made.
"""

from __future__ import annotations

import argparse
import re
import socket
import threading
import time
from typing import Any

from flask import Response, jsonify, request

from escalator.fakedesk.zendesk import FakeZendesk


class ControlledDesk:
    def __init__(self, requester: str) -> None:
        # A webhook URL turns event payloads on; the test delivers them itself (with faults), never the desk.
        self.desk = FakeZendesk(echo=False, webhook_url="http://unused.invalid/")
        self.requester = self.desk.add_user(requester, f"{requester.lower()}@customer.example")
        self.outage_until = 0.0
        self.outage_status = 503
        self.outage_retry_after: float | None = None
        self.lose: list[list[Any]] = []  # [pattern, times left]
        self.slow: list[list[Any]] = []  # [pattern, seconds, times left]
        self.lock = threading.Lock()
        self._routes()

    def _routes(self) -> None:
        app = self.desk.app

        @app.before_request
        def _outage() -> Response | None:
            if request.path.startswith("/_control/"):
                return None
            line = f"{request.method} {request.path}"
            with self.lock:
                slow = next((rule for rule in self.slow if rule[2] > 0 and re.fullmatch(rule[0], line)), None)
                if slow is not None:
                    slow[2] -= 1
            if slow is not None:
                time.sleep(slow[1])  # then answered as usual: a slow but successful call
            if time.time() >= self.outage_until:
                return None
            answer = jsonify(error="ServiceUnavailable", description="injected outage")
            answer.status_code = self.outage_status
            if self.outage_retry_after is not None:
                answer.headers["Retry-After"] = str(self.outage_retry_after)
            return answer

        @app.after_request
        def _lose_answer(response: Response) -> Response:
            line = f"{request.method} {request.path}"
            with self.lock:
                matched = next((rule for rule in self.lose if rule[1] > 0 and re.fullmatch(rule[0], line)), None)
                if matched is not None:
                    matched[1] -= 1
            if matched is not None:
                connection = request.environ.get("werkzeug.socket")
                if isinstance(connection, socket.socket):
                    connection.shutdown(socket.SHUT_RDWR)
            return response

        @app.post("/_control/tickets")
        def tickets() -> Response:
            spec = request.get_json(force=True)
            ids = []
            for _ in range(int(spec.get("count", 1))):
                ticket = self.desk.create_ticket(
                    spec.get("subject", "Outage: cannot log in"),
                    spec.get("description", "Nobody on our team can sign in."),
                    self.requester,
                )
                ids.append(ticket["id"])
            payloads = self.desk.pending_webhooks()
            self.desk.clear_webhooks()
            return jsonify(ids=ids, payloads=payloads)

        @app.post("/_control/outage")
        def outage() -> Response:
            spec = request.get_json(force=True)
            self.outage_status = int(spec.get("status", 503))
            self.outage_retry_after = spec.get("retry_after")
            self.outage_until = time.time() + float(spec["seconds"])
            return jsonify(ok=True)

        @app.post("/_control/fault")
        def fault() -> Response:
            spec = request.get_json(force=True)
            self.desk.fail(
                spec["pattern"],
                int(spec["status"]),
                times=int(spec.get("times", 1)),
                retry_after=spec.get("retry_after"),
                delay=float(spec.get("delay", 0.0)),
            )
            return jsonify(ok=True)

        @app.post("/_control/drop")
        def drop() -> Response:
            spec = request.get_json(force=True)
            self.desk.drop(spec["pattern"], times=int(spec.get("times", 1)))
            return jsonify(ok=True)

        @app.post("/_control/lose")
        def lose() -> Response:
            spec = request.get_json(force=True)
            with self.lock:
                self.lose.append([spec["pattern"], int(spec.get("times", 1))])
            return jsonify(ok=True)

        @app.post("/_control/slow")
        def slow() -> Response:
            spec = request.get_json(force=True)
            with self.lock:
                self.slow.append([spec["pattern"], float(spec["seconds"]), int(spec.get("times", 1))])
            return jsonify(ok=True)

        @app.get("/_control/writes")
        def writes() -> Response:
            return jsonify(writes=self.desk.writes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requester", required=True)
    args = parser.parse_args()
    controlled = ControlledDesk(args.requester)
    controlled.desk.start(args.port)
    threading.Event().wait()


if __name__ == "__main__":
    main()
