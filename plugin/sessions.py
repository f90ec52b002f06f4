"""Who may read a ticket's escalation: the deployment's `admin_token`, or a sidebar session of the tenant.

Zendesk sends its signed token (the ZAF JWT) only with the first request of the sidebar (plugin.sidebar), so
the page needs a credential of its own for the JSON it fetches afterwards: a session token. It names the
tenant, the ticket when Zendesk's token named one, and the agent; it lives `SESSION_SECONDS` and the page
renews it while it is used (never past `SESSION_RENEWABLE_FOR` after Zendesk's token was verified).

Session tokens are signed (itsdangerous, HMAC-SHA512 keyed per tenant) with a secret kept in Redis at
`esc:{<tenant>}:sidebar:secret`: the first process that needs it creates it with SET NX and every other
receiver process reads the same one, so any of them can check a session another one issued. A token
signed for one tenant does not even verify under another's secret; deleting the key ends every session of
the tenant at once.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

import redis
from itsdangerous import BadSignature, URLSafeSerializer

from escalator.plugin import keys
from escalator.plugin.config import Config

SESSION_SECONDS = 15 * 60
"""A session token's life: long enough for the page's refreshes in between, short enough that a token that
leaked (a screenshot of the page source, a log) is soon worthless."""
SESSION_RENEWABLE_FOR = 8 * 3600
"""Renewals stop this long after Zendesk's token was verified (a working day): then the agent reopens the
ticket, and Zendesk signs a new token."""
SALT = "escalator.sidebar.session"
SECRET_BYTES = 32


@dataclass(frozen=True)
class Session:
    tenant: str
    ticket: str | None
    """The one ticket the session may read; None when Zendesk's token named none (any of the tenant's)."""
    user: str | None
    """The Zendesk user (the token's `sub`), for the logs."""
    opened: float
    """When Zendesk's token was verified (epoch seconds)."""
    expires: float

    def to_claims(self) -> dict[str, Any]:
        return {"t": self.tenant, "k": self.ticket, "u": self.user, "o": self.opened, "x": self.expires}


@dataclass(frozen=True)
class Access:
    """A verified bearer: the admin (every tenant) or one tenant's session (one ticket, or all of them)."""

    session: Session | None = None
    """None for the admin."""

    def allows(self, tenant: str, ticket_id: str) -> bool:
        if self.session is None:
            return True
        return self.session.tenant == tenant and self.session.ticket in (None, ticket_id)


class Sessions:
    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.redis = client
        self.clock = clock

    def secret(self, tenant: str) -> str:
        """The tenant's signing secret, created once for all processes (SET NX, then read back)."""
        key = keys.tenant_key(tenant, "sidebar", "secret")
        raw = self.redis.get(key)
        if raw is None:
            self.redis.set(key, secrets.token_urlsafe(SECRET_BYTES), nx=True)
            raw = self.redis.get(key)
        if raw is None:
            raise redis.RedisError(f"{key} vanished right after it was set")
        return keys.as_text(raw)

    def _serializer(self, tenant: str) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret(tenant), salt=SALT)

    def open(self, tenant: str, ticket: str | None, user: str | None) -> str:
        """A new session, once Zendesk's token was verified for `tenant`."""
        now = self.clock()
        return self.issue(Session(tenant, ticket, user, now, now + SESSION_SECONDS))

    def issue(self, session: Session) -> str:
        return str(self._serializer(session.tenant).dumps(session.to_claims()))

    def renewal(self, session: Session) -> str | None:
        """A fresh token for a session past half its life and still renewable; None when none is due."""
        now = self.clock()
        if session.expires - now > SESSION_SECONDS / 2 or now - session.opened > SESSION_RENEWABLE_FOR:
            return None
        return self.issue(Session(session.tenant, session.ticket, session.user, session.opened, now + SESSION_SECONDS))

    def read(self, token: str, tenants: Container[str]) -> Session | None:
        """The session a token carries, if it is one of ours, for one of `tenants`, untampered and unexpired.
        The tenant it claims is checked against `tenants` before anything is read from Redis (a forged claim
        must not make us create a secret for a tenant that does not exist)."""
        _, claims = URLSafeSerializer("unverified", salt=SALT).loads_unsafe(token)
        tenant = claims.get("t") if isinstance(claims, dict) else None
        if not isinstance(tenant, str) or tenant not in tenants:
            return None
        try:
            verified = self._serializer(tenant).loads(token)
        except BadSignature:
            return None
        try:
            session = Session(
                tenant=str(verified["t"]),
                ticket=None if verified.get("k") is None else str(verified["k"]),
                user=None if verified.get("u") is None else str(verified["u"]),
                opened=float(verified["o"]),
                expires=float(verified["x"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return session if session.expires > self.clock() else None


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def same_secret(presented: str | None, expected: str) -> bool:
    """A presented token (admin token, CSRF token) against the real one, in constant time; none never matches."""
    return bool(presented) and hmac.compare_digest(str(presented).encode(), expected.encode())


def authenticate(config: Config, sessions: Sessions, header: str | None) -> Access | None:
    """The admin token (compared in constant time; none configured: no admin access at all), or a session of
    any configured tenant; None for anything else."""
    token = bearer(header)
    if token is None:
        return None
    if config.admin_token and same_secret(token, config.admin_token):
        return Access()
    session = sessions.read(token, config.tenants)
    return Access(session) if session is not None else None
