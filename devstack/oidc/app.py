"""A stand-in OpenID Connect provider, as strict as Google's for the authorization code flow.

Discovery (`/.well-known/openid-configuration`), a JWKS (RS256 key made at start), an
authorization endpoint and a token endpoint. Like Google it refuses an unknown client, a
redirect URI not registered for it (an error page, never a redirect), a scope without
`openid`, a response type other than `code`, and a PKCE method other than S256 or plain; the
token endpoint wants the client's secret (Basic or in the body), the same redirect URI, an
unused code younger than a minute and, when the authorization carried a challenge, the
verifier that matches it. The ID token carries iss, aud, sub, email, email_verified, iat, exp
and the nonce. The authorization page lets the tester pick who signs in (the account chooser);
`/control/reset` forgets codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

CODE_LIFETIME = 60.0
TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    client_id: str
    redirect_uri: str
    email: str
    nonce: str | None
    challenge: str | None
    method: str
    issued: float


def _json(body: Any, status: int = 200) -> Response:
    import json  # noqa: PLC0415

    return Response(json.dumps(body), status, mimetype="application/json")


def _error(error: str, description: str, status: int = 400) -> Response:
    return _json({"error": error, "error_description": description}, status)


class OidcApp:
    def __init__(self, issuer: str, clients: tuple[Client, ...]) -> None:
        self.issuer = issuer.rstrip("/")
        self.clients = {c.client_id: c for c in clients}
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8)})
        self.codes: dict[str, Grant] = {}
        self.guard = threading.Lock()
        self.urls = Map(
            [
                Rule("/.well-known/openid-configuration", endpoint="discovery"),
                Rule("/jwks", endpoint="jwks"),
                Rule("/authorize", endpoint="authorize", methods=["GET"]),
                Rule("/authorize/approve", endpoint="approve", methods=["POST"]),
                Rule("/token", endpoint="token", methods=["POST"]),
                Rule("/control/reset", endpoint="reset", methods=["POST"]),
            ]
        )

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, _ = self.urls.bind_to_environ(environ).match()
            response = getattr(self, f"_{endpoint}")(request)
        except HTTPException as exc:
            response = _error("invalid_request", exc.name, exc.code or 400)
        return response(environ, start_response)

    def _discovery(self, request: Request) -> Response:
        return _json(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    def _jwks(self, request: Request) -> Response:
        return _json({"keys": [self.key.as_dict(private=False)]})

    def _reset(self, request: Request) -> Response:
        with self.guard:
            self.codes.clear()
        return _json({})

    def _checked_authorization(self, args: Any) -> tuple[Client, str] | Response:
        client = self.clients.get(args.get("client_id", ""))
        if client is None:
            return Response("Error 401: invalid_client", 401, mimetype="text/plain")
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return Response("Error 400: redirect_uri_mismatch", 400, mimetype="text/plain")
        if args.get("response_type") != "code":
            return Response("Error 400: unsupported_response_type", 400, mimetype="text/plain")
        if "openid" not in args.get("scope", "").split():
            return Response("Error 400: invalid_scope (openid needed)", 400, mimetype="text/plain")
        method = args.get("code_challenge_method", "plain")
        if args.get("code_challenge") and method not in ("plain", "S256"):
            return Response("Error 400: invalid_request (PKCE method)", 400, mimetype="text/plain")
        return client, redirect_uri

    def _authorize(self, request: Request) -> Response:
        checked = self._checked_authorization(request.args)
        if isinstance(checked, Response):
            return checked
        hidden = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
            for k, v in request.args.items()
        )
        page = (
            "<!doctype html><title>Choose an account</title><h1>Sign in (stand-in provider)</h1>"
            f'<form method="post" action="/authorize/approve">{hidden}'
            '<label>E-mail <input id="email" name="email" type="email" required></label>'
            '<label><input id="verified" name="email_verified" type="checkbox" checked> '
            "verified</label>"
            '<button id="continue" type="submit">Continue</button></form>'
        )
        return Response(page, 200, mimetype="text/html")

    def _approve(self, request: Request) -> Response:
        form = request.form
        checked = self._checked_authorization(form)
        if isinstance(checked, Response):
            return checked
        client, redirect_uri = checked
        code = secrets.token_urlsafe(24)
        email = form.get("email", "").strip()
        verified = "1" if form.get("email_verified") else "0"
        grant = Grant(
            client.client_id,
            redirect_uri,
            f"{email}|{verified}",
            form.get("nonce") or None,
            form.get("code_challenge") or None,
            form.get("code_challenge_method", "plain"),
            time.monotonic(),
        )
        with self.guard:
            self.codes[code] = grant
        answer = {"code": code, "iss": self.issuer}
        if form.get("state"):
            answer["state"] = form["state"]
        return Response("", 302, headers={"Location": f"{redirect_uri}?{urlencode(answer)}"})

    def _client_of(self, request: Request) -> Client | None:
        client_id, secret = request.form.get("client_id", ""), request.form.get("client_secret")
        if request.authorization is not None and request.authorization.type == "basic":
            client_id = request.authorization.username or ""
            secret = request.authorization.password
        client = self.clients.get(client_id)
        if client is None or secret is None:
            return None
        return client if hmac.compare_digest(secret, client.secret) else None

    def _token(self, request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type", "only authorization_code")
        client = self._client_of(request)
        if client is None:
            return _error("invalid_client", "The OAuth client was not found.", 401)
        with self.guard:
            grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or time.monotonic() - grant.issued > CODE_LIFETIME:
            return _error("invalid_grant", "Malformed auth code.")
        if grant.client_id != client.client_id or grant.redirect_uri != form.get("redirect_uri"):
            return _error("invalid_grant", "Bad Request")
        if grant.challenge is not None and not _pkce_ok(grant, form.get("code_verifier", "")):
            return _error("invalid_grant", "Invalid code verifier.")
        email, verified = grant.email.rsplit("|", 1)
        return _json(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "scope": "openid email",
                "id_token": self._id_token(client, email, verified == "1", grant.nonce),
            }
        )

    def _id_token(self, client: Client, email: str, verified: bool, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client.client_id,
            "azp": client.client_id,
            "sub": hashlib.sha256(email.encode()).hexdigest()[:21],
            "email": email,
            "email_verified": verified,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key)


def _pkce_ok(grant: Grant, verifier: str) -> bool:
    if grant.method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return bool(verifier) and hmac.compare_digest(expected, grant.challenge or "")
