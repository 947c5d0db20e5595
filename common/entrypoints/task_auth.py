"""Who may call the publish function: Cloud Tasks, with the OIDC token of the tasks service
account.

The token is verified with google-auth (RS256 signature against the issuer's certificates,
`exp`/`iat`, `aud`), then its issuer, `email` and `email_verified` are checked. The certificates
come from TASKS_OIDC_CERTS_URL: Google's in production; the local Cloud Tasks stand-in serves
its own there, so tests verify real signatures too. Nothing here can skip verification.
Certificates are kept for an hour (Google rotates them over days) and fetched again when a
token names a key not yet seen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt as pyjwt
import requests
from google.auth import jwt as google_jwt

from common.config import Settings
from common.entrypoints.auth import AuthError

ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CERTS_TTL_SECONDS = 3600.0
CERTS_TIMEOUT_SECONDS = 5.0
CLOCK_SKEW_SECONDS = 30
MAX_TOKEN_LENGTH = 4096
UNAUTHENTICATED = "Missing or invalid OIDC token"
FORBIDDEN = "Token is not the tasks service account's"

Fetch = Callable[[str], Mapping[str, str]]
# google-auth ships no type hints for jwt.decode.
_decode: Callable[..., Mapping[str, Any]] = google_jwt.decode


def fetch_certs(url: str) -> Mapping[str, str]:
    response = requests.get(url, timeout=CERTS_TIMEOUT_SECONDS)
    response.raise_for_status()
    certs: Mapping[str, str] = response.json()
    return certs


class TaskTokenVerifier:
    def __init__(
        self,
        settings: Settings,
        fetch: Fetch = fetch_certs,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (settings.task_audience and settings.tasks_service_account):
            raise ValueError(
                "the publish function needs TASKS_TARGET_URL and TASKS_SERVICE_ACCOUNT"
            )
        self._audience = settings.task_audience
        self._email = settings.tasks_service_account
        self._url = settings.tasks_oidc_certs_url
        self._fetch = fetch
        self._clock = clock
        self._guard = threading.Lock()
        self._certs: Mapping[str, str] = {}
        self._fetched_at = -CERTS_TTL_SECONDS

    def verify(self, header: str | None) -> None:
        """Raise AuthError unless the header carries a valid token of the tasks account."""
        token = _bearer(header)
        claims = self._verified(token)
        if claims.get("iss") not in ISSUERS:
            raise AuthError(401, UNAUTHENTICATED)
        if claims.get("email") != self._email or claims.get("email_verified") is not True:
            raise AuthError(403, FORBIDDEN)

    def _verified(self, token: str) -> Mapping[str, Any]:
        try:
            kid = pyjwt.get_unverified_header(token).get("kid")
            certs = self._certs_with(kid)
            claims = _decode(
                token,
                certs=dict(certs),
                audience=self._audience,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except (ValueError, pyjwt.PyJWTError, requests.RequestException) as exc:
            # google-auth raises ValueError (and its subclasses) for every invalid token.
            raise AuthError(401, UNAUTHENTICATED) from exc
        return claims

    def _certs_with(self, kid: object) -> Mapping[str, str]:
        with self._guard:
            stale = self._clock() - self._fetched_at >= CERTS_TTL_SECONDS
            if stale or kid not in self._certs:
                self._certs = self._fetch(self._url)
                self._fetched_at = self._clock()
            return self._certs


def _bearer(header: str | None) -> str:
    if not header or len(header) > MAX_TOKEN_LENGTH + 7:
        raise AuthError(401, UNAUTHENTICATED)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise AuthError(401, UNAUTHENTICATED)
    return token.strip()
