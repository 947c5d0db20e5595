"""Mastodon's OAuth (Doorkeeper), as strict as an instance: apps registered with
`POST /api/v1/apps` (client_name and absolute redirect_uris required; scopes default to `read`),
`GET /oauth/authorize` refusing an unknown client, a redirect URI the app did not register and
scopes it was not registered for, and `POST /oauth/token` exchanging a code once, within ten
minutes, for its client (with the secret) and its exact redirect URI; otherwise
`invalid_grant` (docs.joinmastodon.org/methods/apps, /methods/oauth).
"""

from __future__ import annotations

import html
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Response

from devstack.mastodon.state import MastodonFault, MastodonState

CODE_SECONDS = 600
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)


@dataclass
class App:
    client_id: str
    secret: str
    name: str
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    account_id: str
    scopes: frozenset[str]
    issued: float
    used: bool = False


class OAuthError(Exception):
    """An OAuth error answer: `{"error", "error_description"}` with its status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class PageRefusal(Exception):  # noqa: N818 (Doorkeeper's error page)
    """The authorize page's error: shown, never redirected."""


def register(state: MastodonState, body: dict[str, Any]) -> dict[str, Any]:
    name = str(body.get("client_name") or "").strip()
    if not name:
        raise MastodonFault(422, "Validation failed: Application name can't be blank")
    raw = body.get("redirect_uris")
    uris = tuple(raw if isinstance(raw, list) else str(raw or "").split())
    if not uris or not all(_absolute(u) for u in uris):
        raise MastodonFault(422, "Validation failed: Redirect URI must be an absolute URI.")
    scopes = frozenset(str(body.get("scopes") or "read").split())
    app = App(secrets.token_urlsafe(32), secrets.token_urlsafe(32), name, uris, scopes)
    state.apps[app.client_id] = app
    return {
        "id": state.next_id(),
        "name": name,
        "website": body.get("website"),
        "scopes": sorted(scopes),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": list(uris),
        "client_id": app.client_id,
        "client_secret": app.secret,
        "client_secret_expires_at": 0,
    }


def authorize_page(state: MastodonState, args: dict[str, str]) -> Response:
    app, scopes = _checked(state, args)
    hidden = "".join(
        f'<input type="hidden" name="{n}" value="{html.escape(args.get(n, ""))}">'
        for n in ("client_id", "redirect_uri", "scope", "state", "response_type")
    )
    buttons = "".join(
        f'<button type="submit" name="as" value="{a.id}" id="as-{html.escape(a.username)}">'
        f"Authorize as @{html.escape(a.username)}</button>"
        for a in state.accounts.values()
    )
    wanted = html.escape(" ".join(sorted(scopes)))
    return _page(
        f"Authorize {html.escape(app.name)}",
        f'<p>It asks for: {wanted}</p><form method="post" action="/oauth/authorize">'
        f'{hidden}{buttons}<button type="submit" name="as" value="" id="deny">Deny</button></form>',
    )


def decide(state: MastodonState, form: dict[str, str]) -> Response:
    app, scopes = _checked(state, form)
    redirect_uri = form["redirect_uri"]
    chosen = form.get("as", "")
    if not chosen:
        answer = {"error": "access_denied", "error_description": "The resource owner denied"}
    else:
        if chosen not in state.accounts:
            raise PageRefusal("No such account on this instance")
        code = secrets.token_urlsafe(32)
        state.codes[code] = Code(app.client_id, redirect_uri, chosen, scopes, time.time())
        answer = {"code": code}
    if form.get("state"):
        answer["state"] = form["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return Response("", 302, headers={"Location": f"{redirect_uri}{separator}{urlencode(answer)}"})


def token(state: MastodonState, form: dict[str, Any]) -> dict[str, Any]:
    """`POST /oauth/token`, grant_type authorization_code: a new token for the account."""
    if form.get("grant_type") != "authorization_code":
        raise OAuthError(
            400, "unsupported_grant_type", "The authorization grant type is not supported"
        )
    app = state.apps.get(str(form.get("client_id", "")))
    if app is None or not secrets.compare_digest(str(form.get("client_secret", "")), app.secret):
        raise OAuthError(401, "invalid_client", INVALID_CLIENT)
    code = state.codes.get(str(form.get("code", "")))
    if (
        code is None
        or code.used
        or code.client_id != app.client_id
        or code.redirect_uri != str(form.get("redirect_uri", ""))
        or time.time() - code.issued > CODE_SECONDS
    ):
        raise OAuthError(400, "invalid_grant", INVALID_GRANT)
    code.used = True
    account = state.accounts[code.account_id]
    # The sandbox keeps one token per account: the new one, with the scopes granted.
    account.token, account.scopes = "masto-" + secrets.token_urlsafe(24), code.scopes
    return {
        "access_token": account.token,
        "token_type": "Bearer",
        "scope": " ".join(sorted(code.scopes)),
        "created_at": int(time.time()),
    }


def refusal_page(refusal: PageRefusal) -> Response:
    return _page("An error has occurred", f'<p id="error">{html.escape(str(refusal))}</p>', 400)


def _checked(state: MastodonState, args: dict[str, str]) -> tuple[App, frozenset[str]]:
    app = state.apps.get(args.get("client_id", ""))
    if app is None:
        raise PageRefusal(INVALID_CLIENT)
    if args.get("redirect_uri", "") not in app.redirect_uris:
        raise PageRefusal("The redirect uri included is not valid.")
    if args.get("response_type") != "code":
        raise PageRefusal("The authorization server does not support this response type.")
    scopes = frozenset(args.get("scope", "read").split())
    if not scopes or not scopes <= app.scopes:
        raise PageRefusal("The requested scope is invalid, unknown, or malformed.")
    return app, scopes


def _absolute(uri: str) -> bool:
    parts = urlsplit(uri)
    return bool(parts.scheme and (parts.netloc or uri.startswith("urn:")))


def _page(title: str, body: str, status: int = 200) -> Response:
    markup = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )
    return Response(markup, status, mimetype="text/html")
