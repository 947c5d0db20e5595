"""Who may start a manual run: a bearer JWT with an admin role, or the admin key.

JWTs are HS256 only (the algorithm is pinned, so `alg: none` and RS/HS confusion fail), must
carry `exp`, and are checked against JWT_AUDIENCE / JWT_ISSUER when those are set. The admin key
is compared in constant time and is off unless ADMIN_SECRET_KEY has at least 32 characters.
Error messages never include the presented token.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from common.config import Settings

UNAUTHENTICATED = "Missing or invalid Authorization header"
FORBIDDEN = "Admin role required"
MAX_TOKEN_LENGTH = 4096  # far above any real admin token; larger ones are refused unread
# RFC 7518 3.2: an HS256 key must be at least 256 bits; a shorter secret keeps JWT auth off.
MIN_JWT_SECRET_LENGTH = 32
CLOCK_SKEW_SECONDS = 30
_TOKEN68 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")


class AuthError(Exception):
    """The request may not run: `status` is 401 (who are you?) or 403 (not an admin)."""

    def __init__(self, status: Literal[401, 403], message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Principal:
    method: Literal["jwt", "admin_key"]
    subject: str | None = None


def authenticate(header: str | None, settings: Settings) -> Principal:
    """Check an Authorization header; raise AuthError unless it names an admin."""
    token = _bearer_token(header)
    if _admin_key_matches(token, settings):
        return Principal("admin_key")
    if not jwt_enabled(settings) or token.count(".") != 2:
        raise AuthError(401, UNAUTHENTICATED)
    claims = _verified_claims(token, settings)
    if not is_admin(claims):
        raise AuthError(403, FORBIDDEN)
    subject = claims.get("sub")
    return Principal("jwt", subject if isinstance(subject, str) else None)


def jwt_enabled(settings: Settings) -> bool:
    secret = settings.jwt_secret
    return secret is not None and len(secret) >= MIN_JWT_SECRET_LENGTH


def is_admin(claims: Mapping[str, Any]) -> bool:
    """The admin role in any of the shapes the original service accepted."""
    roles = claims.get("roles")
    return (
        claims.get("role") == "admin"
        or (isinstance(roles, list) and "admin" in roles)
        or claims.get("isAdmin") is True
    )


def _bearer_token(header: str | None) -> str:
    if not header or len(header) > MAX_TOKEN_LENGTH + len("Bearer "):
        raise AuthError(401, UNAUTHENTICATED)
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not set(token) <= _TOKEN68:
        raise AuthError(401, UNAUTHENTICATED)
    return token


def _admin_key_matches(token: str, settings: Settings) -> bool:
    if not settings.admin_key_enabled or settings.admin_secret_key is None:
        return False
    return hmac.compare_digest(token.encode(), settings.admin_secret_key.encode())


def _verified_claims(token: str, settings: Settings) -> dict[str, Any]:
    assert settings.jwt_secret is not None  # jwt_enabled() checked it
    # Imported here: PyJWT loads `cryptography`, which would cost every tick's cold start.
    import jwt  # noqa: PLC0415

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp"]},
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise AuthError(401, UNAUTHENTICATED) from exc
    return claims
