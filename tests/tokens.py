"""JWTs for the auth tests, including forged ones no honest issuer would sign."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.functions_fixtures import AUDIENCE, ISSUER, JWT_SECRET

# Test modules build their tokens when they are collected, and the whole suite can take longer
# than half an hour on a loaded machine: a token meant to be valid must outlive the run.
VALID_FOR_SECONDS = 3 * 3600


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "operator-1",
        "role": "admin",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + VALID_FOR_SECONDS,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict[str, Any], secret: str = JWT_SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token with any header, HMAC-signed with any key (or unsigned when key is None)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def rsa_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def rs256(payload: dict[str, Any], private_pem: bytes) -> str:
    return jwt.encode(payload, private_pem, algorithm="RS256")


def tampered(token: str, **changes: Any) -> str:
    """The token with its payload changed and its original signature kept."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(changes)
    return f"{header}.{_b64(json.dumps(decoded).encode())}.{signature}"
