"""What both fake help desks share: their server, the request pipeline, budgets, faults, webhooks and jobs.

`FakeDesk` runs a Flask app on a werkzeug server thread and passes every request through the same steps a
vendor's edge does: record it, call the test hooks (agents racing Escalator), authenticate, spend the rate
budgets (429 + Retry-After when one is empty, nothing spent), inject faults, then route. A vendor module
supplies only what differs: its routes, its error and rate-limit shapes, and how it signs its webhooks.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from escalator.fakedesk.faults import Fault, injected_fault
from escalator.fakedesk.limits import TokenBucket, admit

__all__ = [
    "DEFAULT_GROUPS",
    "FakeDesk",
    "Fault",
    "Job",
    "Outgoing",
    "TokenBucket",
    "admit",
    "answer",
    "cursor_page",
    "injected_fault",
    "iso",
    "offset_page",
    "parse_time",
    "query_int",
]

T = TypeVar("T")

DEFAULT_GROUPS = {
    101: "Tier 1",
    102: "Tier 2",
    103: "Tier 3",
    201: "Finance",
    202: "Legal",
    203: "Security",
    301: "Support Leads",
}
"""The groups both fakes start with: the seed policy's tiers and teams."""


def iso(moment: datetime) -> str:
    """Both vendors' timestamps: UTC, whole seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def offset_page(items: Sequence[T], page: int, per_page: int) -> tuple[list[T], bool]:
    """Page `page` (from 1) of `items` and whether more follow: offset pagination."""
    start = (max(1, page) - 1) * per_page
    return list(items[start : start + per_page]), len(items) > start + per_page


def cursor_page(keys: Sequence[str], after: str | None, size: int) -> tuple[list[str], bool]:
    """The `size` keys listed after `after` (from the start when it is unknown) and whether more follow."""
    start = keys.index(after) + 1 if after in keys else 0
    return list(keys[start : start + size]), start + size < len(keys)


def query_int(name: str, default: int, low: int = 1, high: int = 10**9) -> int:
    """A query argument as an int within [low, high]; the default when it is absent or not a number."""
    text = request.args.get(name, "")
    return min(high, max(low, int(text))) if text.lstrip("-").isdigit() else default


def answer(body: Any, status: int) -> Response:
    """A JSON answer with its status: what the vendors' error paths return."""
    response = jsonify(body)
    response.status_code = status
    return response


@dataclass
class Outgoing:
    """A webhook queued for delivery; no url or headers means the desk's own (`webhook_url`, its signing)."""

    payload: Any
    url: str | None = None
    headers: dict[str, str] | None = None
    method: str = "POST"
    body: bytes | None = None
    """The bytes to send when they are not the payload as JSON (an XML or form rule)."""


@dataclass
class Job:
    """A background job (bulk updates): one task per ticket, each given the job's id, returning its result."""

    id: str
    tasks: list[Callable[[str], dict[str, Any]]]
    created_at: str
    updated_at: str
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.results) == len(self.tasks)


@dataclass
class FakeDesk(ABC):
    """A help desk in memory behind a real HTTP server: start() it, point a client at `base_url`, make things
    happen (the vendor's helpers), then read what the client did (`requests`, `writes`) and deliver what the
    desk would have sent (`pending_webhooks`, `flush_webhooks`)."""

    groups: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_GROUPS))
    webhook_url: str | None = None
    webhook_secret: str = ""
    echo: bool = True
    """Send webhooks for Escalator's own API changes too, as both vendors do."""

    NAME: ClassVar[str] = "fake-desk"
    """The Flask app's and the server thread's name."""
    TICKET_UPDATE: ClassVar[re.Pattern[str]]
    """Calls ('METHOD path') that also draw on the vendor's ticket-update budget."""
    UPDATE_BUCKET: ClassVar[str]
    """That budget's name in `buckets`."""

    def __post_init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        """Every accepted write, one per ticket changed (each vendor's docstring gives its shape)."""
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.hooks: list[Callable[[str], None]] = []
        """Called with 'METHOD /path' before each request is handled: tests make agents race Escalator."""
        self.buckets: dict[str, TokenBucket] = {}
        """Enforced budgets ("requests" and the update budget), empty unless `enforce_rate_limits()` was called."""
        self.rate_limited: list[tuple[str, str]] = []
        """Every request answered 429 by an enforced budget, as (METHOD, path)."""
        self.admitted: list[tuple[float, str]] = []
        """(clock time, 'METHOD path') of every request an enforced budget let through."""
        self.jobs: dict[str, Job] = {}
        self.hold_jobs = False
        """Keep bulk jobs queued until `run_jobs()`, to test clients that poll them."""
        self._job_ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._outbox: list[Outgoing] = []
        self._setup()
        self.app = self._build_app()

    # --- what a vendor supplies ----------------------------------------------------------------------------

    @abstractmethod
    def _setup(self) -> None:
        """Create the vendor's records (users, tickets, counters) before the app is built."""

    @abstractmethod
    def _add_routes(self, app: Flask) -> None: ...

    @abstractmethod
    def _authenticated(self) -> bool: ...

    @abstractmethod
    def _unauthenticated(self) -> Response: ...

    @abstractmethod
    def _error_body(self, status: int) -> dict[str, Any]:
        """The vendor's error body for an injected `status`."""

    @abstractmethod
    def _too_many(self, wait: float, line: str) -> Response:
        """The vendor's 429 when a budget needs `wait` more seconds."""

    @abstractmethod
    def _rate_headers(self, response: Response, line: str) -> Response: ...

    @abstractmethod
    def _webhook_headers(self, body: bytes) -> dict[str, str]:
        """The headers of a webhook to `webhook_url` carrying `body` (signatures are over the raw bytes)."""

    # --- running -------------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        # A short poll interval lets stop() return within 50 ms (serve_forever checks for shutdown between polls).
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, daemon=True, name=self.NAME)
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def fail(
        self, pattern: str, status: int, times: int = 1, retry_after: float | None = None, delay: float = 0.0
    ) -> None:
        """The next `times` requests whose 'METHOD path' matches answer `status` (after `delay` seconds)."""
        self.faults.append(Fault(re.compile(pattern), status, times, retry_after, delay))

    def drop(self, pattern: str, times: int = 1, delay: float = 0.0) -> None:
        """The next `times` requests whose 'METHOD path' matches get no answer: the connection is closed after
        `delay` seconds and the request is not handled (a write does not land)."""
        self.faults.append(Fault(re.compile(pattern), 0, times, None, delay, drop=True))

    def _enforce(
        self, requests_per_period: int | None, updates_per_period: int | None, period: float, clock: Callable[[], float]
    ) -> None:
        """Enforce the account's budget and the ticket-update budget as token buckets (None: not enforced)."""
        self.buckets = {}
        if requests_per_period is not None:
            self.buckets["requests"] = TokenBucket(requests_per_period, period, clock)
        if updates_per_period is not None:
            self.buckets[self.UPDATE_BUCKET] = TokenBucket(updates_per_period, period, clock)

    def take_tokens(self, bucket: str, count: int) -> None:
        """Another integration on the same account spends `count` calls of a budget."""
        self.buckets[bucket].take(count)

    # --- the request pipeline ------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask(self.NAME)
        app.before_request(self._before)
        app.after_request(self._after)
        self._add_routes(app)
        return app

    def _before(self) -> Response | None:
        line = f"{request.method} {request.path}"
        self.requests.append((request.method, request.full_path.rstrip("?")))
        for hook in list(self.hooks):
            hook(line)
        if not self._authenticated():
            return self._unauthenticated()
        return self._spend(line) or injected_fault(self.faults, line, self._error_body)

    def _after(self, response: Response) -> Response:
        return self._rate_headers(response, f"{request.method} {request.path}") if self.buckets else response

    def _spend(self, line: str) -> Response | None:
        """Take one token from each budget the call draws on, or answer 429 and take none."""
        if not self.buckets:
            return None
        names = ["requests", self.UPDATE_BUCKET] if self.TICKET_UPDATE.fullmatch(line) else ["requests"]
        with self._lock:
            buckets = [self.buckets[name] for name in names if name in self.buckets]
            wait = admit(buckets)
            if wait > 0:
                self.rate_limited.append((request.method, request.path))
                return self._too_many(wait, line)
            if buckets:
                self.admitted.append((buckets[0].clock(), line))
        return None

    # --- records -------------------------------------------------------------------------------------------

    def _group_id(self, group: str | None) -> int | None:
        return next((gid for gid, name in self.groups.items() if name == group), None)

    @staticmethod
    def _bump(ticket: dict[str, Any], now: datetime) -> str:
        # updated_at has whole seconds, as the vendors'; make each change visible to a conflict check anyway.
        return iso(max(now, parse_time(ticket["updated_at"]) + timedelta(seconds=1)))

    # --- webhooks ------------------------------------------------------------------------------------------

    def pending_webhooks(self) -> list[Any]:
        return [outgoing.payload for outgoing in self._outbox]

    def clear_webhooks(self) -> None:
        self._outbox.clear()

    def flush_webhooks(self, post: Callable[..., Any] = requests.post) -> list[int]:
        """Deliver queued webhooks; returns the HTTP statuses. Kept explicit so tests control timing."""
        statuses = []
        while self._outbox:
            statuses.append(self._send(self._outbox.pop(0), post))
        return statuses

    def deliver(self, payload: dict[str, Any], post: Callable[..., Any] = requests.post) -> int:
        """Send `payload` to `webhook_url` once more, as the vendor does when it retries a delivery."""
        return self._send(Outgoing(payload), post)

    def _send(self, outgoing: Outgoing, post: Callable[..., Any]) -> int:
        url = outgoing.url or self.webhook_url
        assert url is not None, "no webhook_url to deliver to"
        body = outgoing.body if outgoing.body is not None else json.dumps(outgoing.payload).encode()
        headers = outgoing.headers if outgoing.headers is not None else self._webhook_headers(body)
        send = post if outgoing.method == "POST" else functools.partial(requests.request, outgoing.method)
        return int(send(url, data=body, headers=headers, timeout=10).status_code)

    # --- background jobs -----------------------------------------------------------------------------------

    def _start_job(self, tasks: list[Callable[[str], dict[str, Any]]]) -> Job:
        """Queue a job and, unless `hold_jobs`, run it at once (the vendors' jobs finish within seconds)."""
        stamp = iso(datetime.now(UTC))
        job = Job(f"{uuid.uuid4().hex[:24]}{next(self._job_ids):08x}", tasks, stamp, stamp)
        with self._lock:
            self.jobs[job.id] = job
        if not self.hold_jobs:
            self._run_job(job)
        return job

    def run_jobs(self) -> None:
        """Run the jobs `hold_jobs` kept queued, oldest first."""
        for job in list(self.jobs.values()):
            if not job.done:
                self._run_job(job)

    @staticmethod
    def _run_job(job: Job) -> None:
        job.results = [task(job.id) for task in job.tasks]
        job.updated_at = iso(datetime.now(UTC))
