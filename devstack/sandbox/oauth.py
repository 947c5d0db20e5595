"""Meta's and Threads' authorization-code flows, as strict as the real ones.

Facebook Login (developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow): the
dialog at `/{version}/dialog/oauth` refuses an unknown app id and a redirect URI that is not one
of the app's Valid OAuth Redirect URIs, character for character; the code it sends back is
exchanged once, within ten minutes, at `GET /{version}/oauth/access_token` with the app secret
and the identical redirect URI (Meta's errors: code 100 with subcodes 36007 expired, 36008
redirect URI not identical, 36009 used; code 1 for a wrong secret).

Threads (developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions):
the authorization window at `/oauth/authorize` needs `response_type=code` and the
`threads_basic` scope; the code is exchanged at `POST /oauth/access_token` (grant_type
authorization_code) for a short-lived token, which `GET /access_token?grant_type=
th_exchange_token` turns into the account's long-lived one.

Each app is registered through the control surface with its secret and redirect URIs; the
consent page lists the sandbox's people (Facebook users, Threads profiles) to continue as.
"""

from __future__ import annotations

import html
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Response

from devstack.sandbox.state import GraphFault, SandboxState

CODE_SECONDS = 600  # an authorization code lives ten minutes
SHORT_LIVED_SECONDS = 3600
LONG_LIVED_SECONDS = 5_183_944
THREADS_SCOPES = frozenset(
    {
        "threads_basic",
        "threads_content_publish",
        "threads_manage_replies",
        "threads_read_replies",
        "threads_manage_insights",
    }
)


@dataclass
class OAuthApp:
    id: str
    secret: str
    redirect_uris: tuple[str, ...]
    kind: str  # "facebook" | "threads"


@dataclass
class Code:
    app_id: str
    redirect_uri: str
    subject: str  # the Facebook user's short-lived token, or the Threads account's id
    issued: float
    used: bool = False


class DialogRefusal(Exception):  # noqa: N818 (a page, not a Graph error)
    """The network's own error page: it never sends the browser back."""


def register(state: SandboxState, body: dict[str, Any]) -> OAuthApp:
    kind = str(body.get("kind", "facebook"))
    if kind not in ("facebook", "threads"):
        raise ValueError("kind is facebook or threads")
    uris = tuple(str(u) for u in body["redirectUris"])
    app = OAuthApp(str(body["id"]), str(body["secret"]), uris, kind)
    state.oauth_apps[app.id] = app
    return app


# --- the browser's side: the dialog and its answer ---------------------------------------------


def dialog(state: SandboxState, args: dict[str, str], kind: str) -> Response:
    """The consent page: who to continue as, or cancel."""
    app = _checked_request(state, args, kind)
    people = _people(state, kind)
    hidden = "".join(
        f'<input type="hidden" name="{n}" value="{html.escape(args.get(n, ""))}">'
        for n in ("client_id", "redirect_uri", "state", "response_type", "scope", "config_id")
        if n in args
    )
    buttons = "".join(
        f'<button type="submit" name="as" value="{html.escape(key)}" id="as-{html.escape(key)}">'
        f"Continue as {html.escape(label)}</button>"
        for key, label in people
    )
    action = "confirm"
    title = "Facebook" if kind == "facebook" else "Threads"
    return _page(
        f"{title}: allow {html.escape(app.id)}",
        f'<form method="post" action="{action}" id="consent">{hidden}{buttons}'
        '<button type="submit" name="as" value="" id="cancel">Cancel</button></form>',
    )


def confirm(state: SandboxState, form: dict[str, str], kind: str) -> Response:
    """The person chose: back to the app with a code (or with the refusal), and the state."""
    app = _checked_request(state, form, kind)
    redirect_uri, given_state = form["redirect_uri"], form.get("state", "")
    answer: dict[str, str] = {}
    chosen = form.get("as", "")
    if not chosen:
        answer = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
        }
    else:
        if chosen not in dict(_people(state, kind)):
            raise DialogRefusal("No such person in the sandbox")
        code = "AQ" + secrets.token_urlsafe(24)
        state.oauth_codes[code] = Code(app.id, redirect_uri, chosen, time.time())
        answer = {"code": code}
    if given_state:
        answer["state"] = given_state
    separator = "&" if "?" in redirect_uri else "?"
    # Meta appends a fragment to the redirect (`#_=_`; Threads: `#_`).
    fragment = "#_=_" if kind == "facebook" else "#_"
    location = f"{redirect_uri}{separator}{urlencode(answer)}{fragment}"
    return Response("", 302, headers={"Location": location})


def refusal_page(refusal: DialogRefusal) -> Response:
    return _page("Error", f'<p id="error">{html.escape(str(refusal))}</p>', status=400)


def _checked_request(state: SandboxState, args: dict[str, str], kind: str) -> OAuthApp:
    app = state.oauth_apps.get(args.get("client_id", ""))
    if app is None or app.kind != kind:
        raise DialogRefusal(
            "Invalid App ID: The provided app ID does not look like a valid app ID."
        )
    if args.get("redirect_uri", "") not in app.redirect_uris:
        raise DialogRefusal(
            "URL Blocked: This redirect failed because the redirect URI is not whitelisted in "
            "the app's Client OAuth Settings. Make sure Client and Web OAuth Login are on and "
            "add all your app domains as Valid OAuth Redirect URIs."
        )
    response_type = args.get("response_type", "code" if kind == "facebook" else "")
    if response_type != "code":
        raise DialogRefusal("Invalid response_type: this flow needs response_type=code")
    if kind == "threads":
        scopes = {s for s in args.get("scope", "").split(",") if s}
        if "threads_basic" not in scopes or not scopes <= THREADS_SCOPES:
            raise DialogRefusal("Invalid Scopes: threads_basic is required; " + ",".join(scopes))
    return app


def _people(state: SandboxState, kind: str) -> list[tuple[str, str]]:
    if kind == "facebook":
        return [
            (token, f"a user managing {', '.join(u.pages)}") for token, u in state.users.items()
        ]
    return [(a.id, f"@{a.name}") for a in state.accounts.values() if a.kind == "threads"]


def _page(title: str, body: str, status: int = 200) -> Response:
    markup = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )
    return Response(markup, status, mimetype="text/html")


# --- the server's side: the code exchange -------------------------------------------------------


def exchange_code(state: SandboxState, args: dict[str, Any], kind: str) -> Code:
    """The code, once, for its app and its redirect URI, with the app's secret."""
    app = state.oauth_apps.get(str(args.get("client_id", "")))
    if app is None or app.kind != kind:
        raise GraphFault(101, "Error validating application. Invalid application ID.")
    if not secrets.compare_digest(str(args.get("client_secret", "")), app.secret):
        raise GraphFault(1, "Error validating client secret.")
    code = state.oauth_codes.get(str(args.get("code", "")))
    if code is None or code.app_id != app.id:
        raise GraphFault(100, "Invalid verification code format.")
    if code.used:
        raise GraphFault(100, "This authorization code has been used.", subcode=36009)
    if time.time() - code.issued > CODE_SECONDS:
        raise GraphFault(100, "This authorization code has expired.", subcode=36007)
    if str(args.get("redirect_uri", "")) != code.redirect_uri:
        raise GraphFault(
            100,
            "Error validating verification code. Please make sure your redirect_uri is "
            "identical to the one you used in the OAuth dialog request",
            subcode=36008,
        )
    code.used = True
    return code


def facebook_token(state: SandboxState, args: dict[str, Any]) -> dict[str, Any]:
    """`GET /oauth/access_token` with a code: the user's short-lived token."""
    code = exchange_code(state, args, "facebook")
    return {"access_token": code.subject, "token_type": "bearer", "expires_in": SHORT_LIVED_SECONDS}


def threads_token(state: SandboxState, args: dict[str, Any]) -> dict[str, Any]:
    """`POST /oauth/access_token`: a short-lived Threads token and the user's id."""
    if args.get("grant_type") != "authorization_code":
        raise GraphFault(100, "Invalid grant_type: authorization_code is required")
    code = exchange_code(state, args, "threads")
    short = "THS-" + secrets.token_urlsafe(16)
    state.threads_short[short] = (code.subject, code.app_id)
    return {"access_token": short, "user_id": code.subject}


def threads_long_lived(state: SandboxState, args: dict[str, Any]) -> dict[str, Any]:
    """`GET /access_token?grant_type=th_exchange_token`: the account's long-lived token."""
    if args.get("grant_type") != "th_exchange_token":
        raise GraphFault(100, "Invalid grant_type: th_exchange_token is required")
    found = state.threads_short.get(str(args.get("access_token", "")))
    if found is None:
        raise GraphFault(190, "Invalid OAuth access token - Cannot parse access token")
    account_id, app_id = found
    if not secrets.compare_digest(
        str(args.get("client_secret", "")), state.oauth_apps[app_id].secret
    ):
        raise GraphFault(1, "Error validating client secret.")
    account = state.accounts[account_id]
    return {"access_token": account.token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}
