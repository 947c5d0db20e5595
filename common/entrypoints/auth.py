"""Who is calling: a bearer JWT with an admin role, the admin key, or (for the api function) an
API key with scopes (common.apikeys).

JWTs are HS256 only (the algorithm is pinned, so `alg: none` and RS/HS confusion fail), must
carry `exp`, and are checked against JWT_AUDIENCE / JWT_ISSUER when those are set. The admin key
is compared in constant time and is off unless ADMIN_SECRET_KEY has at least 32 characters.
Error messages never include the presented token.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pymongo.database import Database

from common import apikeys
from common.config import Settings
from common.db import Doc
from common.entrypoints import web

UNAUTHENTICATED = "Missing or invalid Authorization header"
FORBIDDEN = "Admin role required"
RATE_LIMITED = "Too many requests for this key; retry after the time in Retry-After"
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


class RateLimitedError(Exception):
    """The key spent its requests for this window; `retry_after` is whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(RATE_LIMITED)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Caller:
    """Who calls the api function and what they may do."""

    who: str  # for the audit trail: "key:<id>", "jwt:<subject>" or "admin_key"
    scopes: frozenset[str]
    accounts: tuple[str, ...] | None = None  # None: every account

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def may_use(self, account_id: str) -> bool:
        return self.accounts is None or account_id in self.accounts

    def refusal_for(self, scope: str, doing: str = "do this") -> str | None:
        """Why this caller may not use a route of `scope`, or None. The `admin` routes (the
        run_http function, the api's lock, keys and sweep) act on the whole deployment, so they
        also want a credential for every account: a key limited to accounts could otherwise
        make a key for every account."""
        if not self.allows(scope):
            return f"This credential lacks the {scope} scope"
        if scope == "admin" and self.accounts is not None:
            return f"A key limited to accounts cannot {doing}"
        return None


def authenticate_caller(
    header: str | None, settings: Settings, db: Database[Doc], now: datetime
) -> Caller:
    """An API key (counted against its rate limit) or an admin.

    Raises AuthError (401, 403) or RateLimitedError.
    """
    token = _bearer_token(header)
    # The admin key first: one chosen in the keys' own shape (`sk_live_…`) is still the admin key.
    if not apikeys.looks_like_key(token) or _admin_key_matches(token, settings):
        admin = authenticate(header, settings)
        who = f"jwt:{admin.subject}" if admin.method == "jwt" else "admin_key"
        return Caller(who, frozenset({"admin"}))
    verified = apikeys.verify(db, token, now)
    if verified is None:
        raise AuthError(401, UNAUTHENTICATED)
    if verified.requests_in_window > settings.api_rate_limit_per_minute:
        raise RateLimitedError(max(1, math.ceil((verified.window_ends - now).total_seconds())))
    key = verified.key
    return Caller(f"key:{key.id}", key.scopes, key.accounts)


def refusal(
    exc: AuthError | RateLimitedError, headers: Mapping[str, str] | None = None
) -> web.HttpError:
    """A refused credential as the HTTP functions answer it: 401 with a Bearer challenge, 403,
    or 429 with Retry-After; `headers` (CORS) on each."""
    if isinstance(exc, RateLimitedError):
        return web.HttpError(
            429, RATE_LIMITED, {"Retry-After": str(exc.retry_after), **(headers or {})}
        )
    challenge = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    return web.HttpError(exc.status, exc.message, {**challenge, **(headers or {})})
