"""What can go wrong at the vendor boundary, sorted by what the caller should do about it."""

from __future__ import annotations


class VendorError(Exception):
    """A vendor API call failed; `status` is the HTTP status (0 when no answer came back)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class TransientError(VendorError):
    """Worth retrying later: 5xx, timeouts, dropped connections. `maybe_applied`: the request may have
    taken effect even though no answer arrived, so a non-idempotent write must be checked before resending."""

    def __init__(self, message: str, status: int = 0, *, maybe_applied: bool = False) -> None:
        super().__init__(message, status)
        self.maybe_applied = maybe_applied


class RateLimited(TransientError):
    """429: retry after `retry_after` seconds (the vendor's Retry-After)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class Interrupted(TransientError):
    """The process is stopping: the call was not (re)tried. Nothing failed; the ticket goes back to the queue
    for another worker, without counting as a failed attempt."""


class ConflictError(VendorError):
    """409: the ticket changed since we read it; re-read and decide again."""


class PermanentError(VendorError):
    """The vendor refused the request as such (400/401/403/404/422): retrying the same call cannot help."""


class WebhookRejected(Exception):
    """An inbound request that is refused; `status` is the HTTP answer (400, 401, 413)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
