"""Google Sign-In: the OpenID Connect authorization code flow with PKCE, through authlib.

`begin` sends the browser to the provider with a fresh state, nonce and S256 code challenge
(kept server-side, common.web_sessions); `finish` takes them back once (the browser's flow
cookie names them), checks the state and the `iss` the provider names (RFC 9207), exchanges the
code with the client secret and the verifier, and accepts the ID token only when its RS256
signature verifies against the provider's JWKS and its issuer, audience, nonce and expiry are
this client's: then its verified e-mail names the member.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from pymongo.database import Database

from common import web_sessions
from common.config import Settings
from common.db import Doc

FLOW_COOKIE = "__Host-signin-flow"
FLOW_LIFETIME = timedelta(minutes=10)
CALLBACK_PATH = "/signin/oidc/callback"
HTTP_TIMEOUT = 10
LEEWAY_SECONDS = 60
GOOGLE = "https://accounts.google.com"


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class SignedIn:
    email: str


@dataclass(frozen=True)
class Refused:
    reason: str


class Oidc:
    """One per instance: the provider's discovery document is read once and kept."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_client_id and settings.oidc_client_secret and settings.web_base_url
        self._settings = settings
        self._client_id = settings.oidc_client_id
        self._secret = settings.oidc_client_secret
        self.redirect_uri = settings.web_base_url.rstrip("/") + CALLBACK_PATH
        self._provider: Provider | None = None
        self._guard = threading.Lock()

    def provider(self) -> Provider:
        with self._guard:
            if self._provider is None:
                issuer = self._settings.oidc_issuer.rstrip("/")
                found = _get_json(f"{issuer}/.well-known/openid-configuration")
                if found.get("issuer") != issuer:
                    raise ValueError("the discovery document names another issuer")
                self._provider = Provider(
                    issuer,
                    str(found["authorization_endpoint"]),
                    str(found["token_endpoint"]),
                    str(found["jwks_uri"]),
                )
            return self._provider

    def _session(self) -> Any:
        # Imported here: only a sign-in needs authlib; every other request stays lighter.
        from authlib.integrations.requests_client import OAuth2Session  # noqa: PLC0415

        return OAuth2Session(
            self._client_id,
            self._secret,
            scope="openid email",
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
        )

    def begin(self, db: Database[Doc], now: datetime) -> tuple[str, str]:
        """The provider's authorization URL and the flow token for the browser's cookie."""
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        with self._session() as session:
            url, _ = session.create_authorization_url(
                self.provider().authorization_endpoint,
                state=state,
                code_verifier=verifier,
                nonce=nonce,
            )
        flow = {"state": state, "nonce": nonce, "verifier": verifier}
        return str(url), web_sessions.start_flow(db, flow, now, FLOW_LIFETIME)

    def finish(
        self, db: Database[Doc], flow_token: str, args: Mapping[str, str], now: datetime
    ) -> SignedIn | Refused:
        flow = web_sessions.take_flow(db, flow_token, now) if flow_token else None
        if flow is None:
            return Refused("this sign-in expired or was used already; start again")
        if args.get("error"):
            return Refused(f"the provider refused: {args['error']}"[:200])
        if not hmac.compare_digest(args.get("state", "").encode(), flow["state"].encode()):
            return Refused("the sign-in's state does not match; start again")
        provider = self.provider()
        if "iss" in args and args["iss"] not in _issuers(provider.issuer):
            return Refused("the answer names another provider")
        token = self._exchange(provider, args.get("code", ""), flow["verifier"])
        if isinstance(token, Refused):
            return token
        claims = self._verified_claims(str(token.get("id_token", "")), flow["nonce"], now)
        if isinstance(claims, Refused):
            return claims
        email = claims.get("email")
        if not isinstance(email, str) or claims.get("email_verified") is not True:
            return Refused("the provider did not vouch for an e-mail address")
        return SignedIn(email)

    def _exchange(self, provider: Provider, code: str, verifier: str) -> dict[str, Any] | Refused:
        from authlib.common.errors import AuthlibBaseError  # noqa: PLC0415

        try:
            with self._session() as session:
                token: dict[str, Any] = session.fetch_token(
                    provider.token_endpoint,
                    code=code,
                    code_verifier=verifier,
                    timeout=HTTP_TIMEOUT,
                )
        except (AuthlibBaseError, requests.RequestException) as exc:
            # The provider's words, never the code or the secret.
            return Refused(f"the provider refused the code ({type(exc).__name__})")
        return token

    def _verified_claims(
        self, id_token: str, nonce: str, now: datetime
    ) -> dict[str, Any] | Refused:
        from joserfc import jwt  # noqa: PLC0415
        from joserfc.errors import JoseError  # noqa: PLC0415
        from joserfc.jwk import KeySet  # noqa: PLC0415

        provider = self.provider()
        try:
            keys = KeySet.import_key_set(_get_json(provider.jwks_uri))  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, keys, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                now=int(now.timestamp()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "values": list(_issuers(provider.issuer))},
                aud={"essential": True, "value": self._client_id},
                nonce={"essential": True, "value": nonce},
                sub={"essential": True},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            return Refused(f"the ID token was not accepted ({type(exc).__name__})")
        return dict(decoded.claims)


def _issuers(issuer: str) -> tuple[str, ...]:
    # Google's ID tokens may name their issuer without the scheme (its reference says so).
    return (issuer, "accounts.google.com") if issuer == GOOGLE else (issuer,)


def _get_json(url: str) -> dict[str, Any]:
    response = requests.get(url, timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def flow_cookie(token: str, max_age: int) -> str:
    return f"{FLOW_COOKIE}={token}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax"
