"""Zendesk OAuth: Bearer tokens, refreshed on a 401 with the refresh-token grant, rotated tokens shared.

Zendesk rotates on refresh: `POST /oauth/tokens` with `{"grant_type": "refresh_token", "refresh_token",
"client_id", "client_secret"}` answers a new access token *and* a new refresh token, and deletes the old pair
(`expires_in` / `refresh_token_expires_in` say for how long the new ones are good; refresh tokens default to
30 days). So every worker must use the newest pair, and only one may refresh at a time: a second refresh
with the pair the first just used is refused (`invalid_grant`). The pair therefore lives in a `TokenStore`
the plugin provides (Redis, per tenant; this package knows nothing of Redis), and a refresh happens under the
store's lock after checking whether another worker already did it.

API tokens (`email/token:...`) keep working beside OAuth until Zendesk retires them on 2027-04-30.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from escalator.connectors.errors import PermanentError, TransientError
from escalator.connectors.http import VendorHttp

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/tokens"
EXPIRY_MARGIN_SECONDS = 60.0
"""An access token this close to its expiry is refreshed before use rather than after a 401."""


@dataclass(frozen=True)
class OAuthTokens:
    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    """Epoch seconds; None when Zendesk gave no `expires_in` (the token lasts until revoked)."""
    refresh_expires_at: float | None = None
    origin: str = ""
    """Fingerprint of the configured pair this one descends from: when the admin configures a new pair
    (after authorizing again), stored tokens from the old chain are ignored."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OAuthTokens:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})

    def expiring(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at - EXPIRY_MARGIN_SECONDS <= now


class TokenStore(Protocol):
    """Where a tenant's newest token pair is kept, shared by every process that calls the tenant's Zendesk."""

    def load(self) -> Mapping[str, Any] | None: ...

    def save(self, tokens: Mapping[str, Any]) -> None: ...

    def refreshing(self) -> AbstractContextManager[object]:
        """Held while one process refreshes, so no two use the same refresh token."""


class MemoryTokenStore:
    """A process-local store: for one-off tools and tests (rotated tokens die with the process)."""

    def __init__(self) -> None:
        self.tokens: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def load(self) -> Mapping[str, Any] | None:
        return self.tokens

    def save(self, tokens: Mapping[str, Any]) -> None:
        self.tokens = dict(tokens)

    @contextmanager
    def refreshing(self) -> Iterator[None]:
        with self._lock:
            yield


def origin_of(auth: Mapping[str, Any]) -> str:
    """A short fingerprint of the configured tokens (never the tokens themselves)."""
    seed = f"{auth.get('oauth_token') or ''}\0{auth.get('refresh_token') or ''}".encode()
    return hashlib.sha256(seed).hexdigest()[:16]


def uses_refresh(auth: Mapping[str, Any]) -> bool:
    return bool(auth.get("refresh_token"))


class OAuthSession:
    """The tenant's current access token, and the one way to get a new one."""

    def __init__(
        self,
        base_url: str,
        auth: Mapping[str, Any],
        store: TokenStore,
        *,
        clock: Callable[[], float] = time.time,
        http: VendorHttp | None = None,
    ) -> None:
        self.client_id = str(auth.get("client_id") or "")
        self.client_secret = str(auth.get("client_secret") or "")
        self.store = store
        self.clock = clock
        # The token endpoint takes no Authorization header: the client's credentials are in the body.
        self.http = http or VendorHttp(base_url, {})
        self.origin = origin_of(auth)
        configured = OAuthTokens(
            access_token=str(auth.get("oauth_token") or ""),
            refresh_token=str(auth["refresh_token"]) if auth.get("refresh_token") else None,
            origin=self.origin,
        )
        self.tokens = self._stored() or configured
        self._lock = threading.Lock()

    def _stored(self) -> OAuthTokens | None:
        data = self.store.load()
        if not data:
            return None
        tokens = OAuthTokens.from_dict(data)
        return tokens if tokens.origin == self.origin and tokens.access_token else None

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.access_token}"}

    def usable(self) -> bool:
        """A token to send now: there is one and it is not about to expire (else refresh first)."""
        return bool(self.tokens.access_token) and not self.tokens.expiring(self.clock())

    def renew(self, stale: str) -> None:
        """Replace `stale`, the access token that was refused or is expiring: adopt a newer one another
        worker stored, or refresh (under the store's lock, checking the store once more inside it)."""
        with self._lock:
            if self.tokens.access_token != stale:
                return  # another thread of this process already renewed it
            stored = self._stored()
            if stored is not None and stored.access_token != stale and not stored.expiring(self.clock()):
                self.tokens = stored
                return
            with self.store.refreshing():
                stored = self._stored()
                if stored is not None and stored.access_token != stale and not stored.expiring(self.clock()):
                    self.tokens = stored
                    return
                current = stored or self.tokens
                self.tokens = self._refresh(current)
                self.store.save(self.tokens.to_dict())
                log.info("Zendesk OAuth token refreshed; the rotated pair is stored for every worker")

    def _refresh(self, current: OAuthTokens) -> OAuthTokens:
        if not current.refresh_token:
            raise PermanentError(
                "Zendesk refused the OAuth token (401) and no refresh_token is configured: "
                "authorize Escalator again and configure the new token",
                401,
            )
        body = {
            "grant_type": "refresh_token",
            "refresh_token": current.refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        try:
            # Not idempotent: a refresh that landed unanswered has already rotated the pair away.
            answer = self.http.request("POST", TOKEN_PATH, json=body, idempotent=False)
        except PermanentError as error:
            raise PermanentError(
                f"Zendesk refused to refresh the OAuth token ({error}); the refresh token expired or was revoked: "
                "authorize Escalator again and configure the new oauth_token and refresh_token",
                401,
            ) from None
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise TransientError("Zendesk's token endpoint answered without an access_token")
        now = self.clock()
        expires_in, refresh_in = answer.get("expires_in"), answer.get("refresh_token_expires_in")
        return OAuthTokens(
            access_token=str(answer["access_token"]),
            # Zendesk rotates; should an answer ever lack a new refresh token, the old one is still ours.
            refresh_token=str(answer.get("refresh_token") or current.refresh_token),
            expires_at=now + float(expires_in) if isinstance(expires_in, int | float) else None,
            refresh_expires_at=now + float(refresh_in) if isinstance(refresh_in, int | float) else None,
            origin=self.origin,
        )


class OAuthHttp(VendorHttp):
    """VendorHttp that sends the session's Bearer token, refreshes it when it is about to expire, and on a 401
    renews it and tries the call once more (a 401 means the request was refused, so repeating is safe)."""

    def __init__(self, base_url: str, session: OAuthSession, **options: Any) -> None:
        super().__init__(base_url, session.header(), **options)
        self.oauth = session

    def request(self, method: str, path: str, **options: Any) -> Any:
        if not self.oauth.usable():
            self.oauth.renew(self.oauth.tokens.access_token)
        sent = self._use_current()
        try:
            return super().request(method, path, **options)
        except PermanentError as error:
            if error.status != 401:
                raise
        self.oauth.renew(sent)
        self._use_current()
        return super().request(method, path, **options)

    def _use_current(self) -> str:
        token = self.oauth.tokens.access_token
        self.session.headers["Authorization"] = f"Bearer {token}"
        return token
