"""Injected failures: error answers, slow answers and dropped connections.

A fake help desk is only as useful as the ways it can fail: clients must survive 5xx, 429 with Retry-After,
answers slower than their timeout, and connections closed before any answer (a load balancer restarting, a
proxy timing out), where a write may or may not have landed.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request


@dataclass
class Fault:
    """The next `times` requests whose 'METHOD path' matches `pattern` answer `status` (after `delay` s), or,
    with `drop`, get no answer at all: the connection is closed under them."""

    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False


def injected_fault(faults: Sequence[Fault], line: str, body: Callable[[int], Mapping[str, Any]]) -> Response | None:
    """The answer of the first live fault matching `line` ('METHOD path'), in the vendor's error `body`."""
    for fault in faults:
        if fault.times > 0 and fault.pattern.search(line):
            fault.times -= 1
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                return drop_connection()
            response = jsonify(body(fault.status))
            response.status_code = fault.status
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(fault.retry_after)
            return response
    return None


def drop_connection() -> Response:
    """Shut the client's socket down so it reads end-of-stream instead of an answer (requests raises
    `ConnectionError`); the request is not handled. Werkzeug's server, the one `start()` runs, hands the socket
    over in the environ; the response returned here only ends the request and never reaches the client."""
    connection = request.environ.get("werkzeug.socket")
    if not isinstance(connection, socket.socket):
        raise RuntimeError("dropping connections needs the fake's own server: start() it")
    connection.shutdown(socket.SHUT_RDWR)
    return Response(status=503)
