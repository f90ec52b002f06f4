"""Test wiring for the Zendesk app: RSA keys made here, and ZAF JWTs signed with them as Zendesk signs its own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

INSTALLATION_ID = 70_001


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: str


@cache
def keypair(name: str = "zendesk") -> KeyPair:
    """An RSA key pair per name (made once per test session: generating one takes a while)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(private, public)


def zaf_token(
    host: str = "acme.zendesk.com",
    installation_id: int = INSTALLATION_ID,
    *,
    ticket: str | None = "42",
    key: KeyPair | None = None,
    lifetime: float = 300.0,
    **overrides: Any,
) -> str:
    """A token shaped like the one Zendesk posts to a signed-URL location (`token` form field)."""
    now = int(time.time())
    context: dict[str, Any] = {"product": "support", "location": "ticket_sidebar"}
    if ticket is not None:
        context["ticket_id"] = ticket
    claims: dict[str, Any] = {
        "iss": host,
        "aud": f"https://{host}/api/v2/apps/installations/{installation_id}.json",
        "sub": "1900000001",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "context": context,
        **overrides,
    }
    return jwt.encode(claims, (key or keypair()).private_pem, algorithm="RS256")
