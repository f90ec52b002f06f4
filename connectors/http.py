"""One HTTP client for every vendor: timeouts, Retry-After, backoff, and errors sorted by what to do next.

Idempotent calls (reads, and writes guarded by the vendor's concurrency token) are retried here; a write
that may have landed without an answer is reported as `TransientError(maybe_applied=True)` instead, so the
caller can check before it sends a customer anything twice.

With a `RateLimiter`, every attempt first takes its slot in the tenant's shared budget (sleeping a short
wait, or raising RateLimited for a long one so the ticket is deferred, never dropped); every answer's
rate-limit headers adapt the budget down, and a 429 blocks it for every worker, not just this one.
"""

from __future__ import annotations

import email.utils
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import requests

from escalator.connectors.errors import ConflictError, Interrupted, PermanentError, RateLimited, TransientError
from escalator.connectors.ratelimit import EVERY_CALL_A_REQUEST, Observation, RateLimiter, VendorLimits

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 30.0)
"""Connect and read timeouts in seconds: vendors answer well within these when healthy."""
MAX_INLINE_WAIT = 10.0
"""A Retry-After up to this long is waited out in place; longer ones go back to the queue as RateLimited."""
MAX_ATTEMPTS = 4
"""Attempts for an idempotent call before a TransientError reaches the caller (who retries later)."""


def retry_after_seconds(value: str | None, default: float = 60.0) -> float:
    """Retry-After is either seconds or an HTTP date; anything unreadable means `default`, never a crash."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        if parsed.tzinfo is None:  # "-0000" parses naive; HTTP dates are always GMT
            parsed = parsed.replace(tzinfo=UTC)
        return max(0.0, parsed.timestamp() - time.time())
    return max(0.0, seconds) if math.isfinite(seconds) else default


def vendor_message(response: requests.Response) -> str:
    """The vendor's own words: Zendesk `{error, description, details}`, Freshdesk `{description, errors}`."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if not isinstance(body, dict):
        return str(body)[:200]
    parts = [str(body.get(key)) for key in ("error", "description", "message") if isinstance(body.get(key), str)]
    error = body.get("error")
    if isinstance(error, dict):  # Zendesk's other shape: {"error": {"title": ..., "message": ...}}
        parts.extend(str(error[key]) for key in ("title", "message") if isinstance(error.get(key), str))
    errors = body.get("errors")
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict):
            field, message, code = item.get("field"), item.get("message") or "", item.get("code")
            text = f"{field}: {message}" if field else str(message)
            parts.append(f"{text} ({code})" if code else text)
    details = body.get("details")
    if isinstance(details, dict):
        for field, problems in details.items():
            for problem in problems if isinstance(problems, list) else [problems]:
                text = problem.get("description", problem) if isinstance(problem, dict) else problem
                parts.append(f"{field}: {text}")
    return "; ".join(part for part in parts if part) or response.reason


class VendorHttp:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        on_response: Callable[[requests.Response], None] | None = None,
        limiter: RateLimiter | None = None,
        limits: VendorLimits = EVERY_CALL_A_REQUEST,
        interrupt: threading.Event | None = None,
    ) -> None:
        """`interrupt`: set when the process is stopping; no new attempt or wait starts after it is set (the
        call raises Interrupted), so a worker asked to stop hands its ticket back within seconds."""
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "escalator/0.1", **headers})
        # Proxy settings from the environment are honoured, but read once: requests otherwise re-reads the
        # whole environment on every call, which was a tenth of a worker's time.
        self.session.proxies = requests.utils.get_environ_proxies(self.base_url)
        self.session.trust_env = False
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.on_response = on_response
        self.limiter = limiter
        self.limits = limits
        self.interrupt = interrupt

    def _wait(self, seconds: float) -> None:
        if self.interrupt is not None and self.interrupt.is_set():
            raise Interrupted("the worker is stopping")
        if self.interrupt is not None and self.sleep is time.sleep:
            if self.interrupt.wait(seconds):
                raise Interrupted("the worker is stopping")
            return
        self.sleep(seconds)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool = True,
        text: str | None = None,
    ) -> Any:
        """The answer's JSON (None for an empty one); `text`: the Accept header of an endpoint that answers a
        file rather than JSON (an app's PEM key), whose body is then returned as text."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        headers = {"Accept": text} if text is not None else None
        buckets = self.limits.classify(method, urlsplit(url).path) if self.limiter is not None else ()
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            if self.interrupt is not None and self.interrupt.is_set():
                raise Interrupted(f"{method} {path}: not sent, the worker is stopping")
            if self.limiter is not None:
                self._take_slot(self.limiter, method, path, buckets)
            try:
                response = self.session.request(
                    method, url, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectTimeout, requests.ConnectionError) as error:
                # A refused or timed-out connect never reached the vendor: always safe to try again. Any
                # other broken connection may have carried the request, which matters only for writes.
                unsent = isinstance(error, requests.ConnectTimeout) or _refused(error)
                self._pause_or_raise(
                    last or not (unsent or idempotent),
                    attempt,
                    f"{method} {urlsplit(url).netloc}: {_connection_problem(error, unsent)}",
                    maybe_applied=not unsent and not idempotent,
                )
                continue
            except requests.Timeout as error:
                self._pause_or_raise(
                    last or not idempotent,
                    attempt,
                    f"no answer within {self.timeout[1]:g}s: {error}",
                    maybe_applied=not idempotent,
                )
                continue
            observed = self._observe(response)
            if self.on_response is not None:
                self.on_response(response)
            if response.status_code == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if self.limiter is not None:
                    self.limiter.block(_exhausted(buckets, observed), wait)
                if wait > MAX_INLINE_WAIT or attempt == self.max_attempts:
                    raise RateLimited(f"{method} {path}: rate limited, retry after {wait:g}s", wait)
                log.info("vendor rate limit on %s %s; waiting %.1fs", method, path, wait)
                if self.limiter is None:
                    self._wait(wait)  # with a limiter, the next slot lies after the block: taking it waits
                continue
            if response.status_code >= 500:
                self._pause_or_raise(
                    last or not idempotent,
                    attempt,
                    f"{method} {path}: {response.status_code} {vendor_message(response)}",
                    status=response.status_code,
                    maybe_applied=not idempotent,
                )
                continue
            if response.status_code == 409:
                raise ConflictError(f"{method} {path}: {vendor_message(response)}", 409)
            if response.status_code >= 400:
                raise PermanentError(
                    f"{method} {path}: {response.status_code} {vendor_message(response)}", response.status_code
                )
            if text is not None:
                return response.text
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                # A 2xx that is not JSON comes from something in between (a proxy, a maintenance page).
                raise TransientError(
                    f"{method} {path}: {response.status_code} answer is not JSON",
                    response.status_code,
                    maybe_applied=not idempotent,
                ) from None
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def _take_slot(self, limiter: RateLimiter, method: str, path: str, buckets: Sequence[str]) -> None:
        admission = limiter.acquire(buckets)
        if not admission.admitted:
            raise RateLimited(
                f"{method} {path}: over the {'+'.join(buckets)} budget, retry after {admission.wait:.1f}s",
                admission.wait,
            )
        if admission.wait > 0:
            self._wait(admission.wait)

    def _observe(self, response: requests.Response) -> list[Observation]:
        if self.limiter is None:
            return []
        observed = self.limits.read(response.headers)
        if observed:
            self.limiter.observe(observed)
        return observed

    def _pause_or_raise(
        self, final: bool, attempt: int, message: str, *, status: int = 0, maybe_applied: bool = False
    ) -> None:
        if final:
            raise TransientError(message, status, maybe_applied=maybe_applied)
        delay = min(8.0, 0.25 * 2 ** (attempt - 1))
        log.info("%s; retrying in %.2fs", message, delay)
        self._wait(delay)


def _exhausted(buckets: Sequence[str], observed: Sequence[Observation]) -> list[str]:
    """The buckets a 429 is about: those of the call that the answer does not show with calls left (all of the
    call's buckets when the answer says nothing)."""
    left = {item.bucket for item in observed if item.remaining >= 1}
    return [bucket for bucket in buckets if bucket not in left] or list(buckets)


def _connection_problem(error: BaseException, unsent: bool) -> str:
    """requests' connection errors are long chains ("HTTPConnectionPool(...): Max retries exceeded ..."); an
    admin needs the gist."""
    if isinstance(error, requests.ConnectTimeout):
        return "no connection within the connect timeout"
    if unsent:
        return "connection refused"
    text = str(error)
    for marker, gist in (("Name or service not known", "unknown host"), ("reset by peer", "connection reset")):
        if marker in text:
            return gist
    return "connection dropped before an answer"


def _refused(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
