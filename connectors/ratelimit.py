"""The outbound rate-limit contract between a vendor client and whatever keeps the tenant's shared budget.

Connectors know their vendor's API: which calls draw on which budget (every call on `REQUESTS`; calls that
update a ticket's fields also on `TICKET_UPDATES`) and what the vendor's rate-limit headers say is left.
They know nothing of where the budget is kept: `VendorHttp` asks a `RateLimiter` before every attempt and
tells it what each answer said. The Redis-backed limiter that several workers share is `plugin.ratelimit`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

REQUESTS = "requests"
"""Every call to the vendor (DESIGN §2 `requests_per_minute`)."""
TICKET_UPDATES = "ticket_updates"
"""Calls that update a ticket's fields: a ticket PUT, bulk updates (DESIGN §2 `ticket_updates_per_minute`)."""


@dataclass(frozen=True)
class Admission:
    """The limiter's answer: send after `wait` seconds (the slot is reserved), or, when not `admitted`, try
    again in `wait` seconds (nothing was reserved)."""

    admitted: bool
    wait: float = 0.0


@dataclass(frozen=True)
class Observation:
    """What a vendor answer said about one budget: `remaining` calls left, the window resetting in `reset`
    seconds when the vendor says so."""

    bucket: str
    remaining: float
    reset: float | None = None


class RateLimiter(Protocol):
    def acquire(self, buckets: Sequence[str]) -> Admission:
        """Reserve one call in every bucket at once, or in none (a refused ticket update spends nothing)."""

    def observe(self, observations: Sequence[Observation]) -> None:
        """The vendor says less is left than we believed: never believe more than it says."""

    def block(self, buckets: Sequence[str], seconds: float) -> None:
        """The vendor answered 429: nobody sends on these buckets for `seconds` (every worker backs off)."""


Classifier = Callable[[str, str], tuple[str, ...]]
"""(method, path) -> the buckets a call draws on; `path` has no host and no query string."""
HeaderReader = Callable[[Mapping[str, str]], list[Observation]]
"""A response's headers (case-insensitive mapping) -> what they say about each bucket."""


def _no_headers(headers: Mapping[str, str]) -> list[Observation]:
    return []


@dataclass(frozen=True)
class VendorLimits:
    """How one vendor's API spends a tenant's budget; each connector declares its own."""

    classify: Classifier
    read: HeaderReader = _no_headers


def classify_by(table: Iterable[tuple[str, str]]) -> Classifier:
    """A classifier from a table of (METHOD, path regex) for ticket updates; every call draws on REQUESTS."""
    rules = [(method.upper(), re.compile(pattern)) for method, pattern in table]

    def classify(method: str, path: str) -> tuple[str, ...]:
        verb = method.upper()
        if any(verb == rule_method and pattern.fullmatch(path) for rule_method, pattern in rules):
            return (REQUESTS, TICKET_UPDATES)
        return (REQUESTS,)

    return classify


EVERY_CALL_A_REQUEST = VendorLimits(classify=lambda method, path: (REQUESTS,))
"""For a limiter given without vendor knowledge: count every call, read no headers."""


def header_number(headers: Mapping[str, str], *names: str) -> float | None:
    """The first of `names` present as a finite number >= 0; unreadable values count as absent."""
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if number >= 0 and number != float("inf"):
            return number
    return None


def header_fields(value: str | None) -> dict[str, float]:
    """`total=100; remaining=99; resets=41` (Zendesk's per-endpoint headers) -> {"total": 100.0, ...}."""
    fields: dict[str, float] = {}
    for part in (value or "").split(";"):
        name, _, raw = part.partition("=")
        try:
            number = float(raw.strip())
        except ValueError:
            continue
        if number >= 0 and number != float("inf"):
            fields[name.strip().lower()] = number
    return fields
