"""Who is using the web app: the session cookie, the CSRF check, roles, and the API-key
sign-in (a single-user deployment and the first admin; members sign in with Google, see oidc).

The cookie is `__Host-` prefixed (Secure, Path=/, no Domain), HttpOnly and SameSite=Lax; it
holds only a random token whose hash names the server-side session (common.web_sessions).
Every state-changing request must carry the session's CSRF token (a form field or the
X-CSRF-Token header that HTMX sends) and, when the browser says where it comes from, our origin.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Request
from pymongo.database import Database

from common import apikeys, members, signin_limit, web_sessions
from common.config import Settings
from common.db import Doc
from common.entrypoints import web
from common.members import Power, Role
from common.web_sessions import Session

SESSION_COOKIE = "__Host-session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
MAX_KEY_LENGTH = 512
SAFE_METHODS = frozenset({"GET", "HEAD"})


class SignInNeededError(Exception):
    """No live session: a page asks the browser to sign in, anything else answers 401."""


@dataclass(frozen=True)
class Visitor:
    token: str
    session: Session

    @property
    def who(self) -> str:
        return self.session.who

    @property
    def role(self) -> Role:
        return self.session.role

    @property
    def name(self) -> str:
        return self.who.removeprefix("member:")

    def may(self, power: Power) -> bool:
        return members.allows(self.role, power)


def current(request: Request, db: Database[Doc], now: datetime) -> Visitor | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > 100:
        return None
    session = web_sessions.find(db, token, now)
    return None if session is None else Visitor(token, session)


def require(
    request: Request, db: Database[Doc], settings: Settings, now: datetime, power: Power
) -> Visitor:
    """The signed-in visitor allowed `power`; a change must also pass the CSRF check."""
    visitor = current(request, db, now)
    if visitor is None:
        raise SignInNeededError
    if not visitor.may(power):
        raise web.HttpError(403, f"Your role ({visitor.role}) may not do this")
    if request.method not in SAFE_METHODS:
        check_origin(request, settings, required=False)
        check_csrf(request, visitor.session.csrf)
    return visitor


def our_origin(request: Request, settings: Settings) -> str:
    """WEB_BASE_URL when set (behind Google's front the request itself reads http://)."""
    base = settings.web_base_url or request.host_url
    scheme, _, rest = base.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def check_origin(request: Request, settings: Settings, *, required: bool) -> None:
    """A change from another site is refused; a sign-in must say where it comes from (every
    browser sends Origin with a form POST), which stops a site signing a visitor in as itself."""
    origin = request.headers.get("Origin")
    if origin is None and not required:
        return
    if origin != our_origin(request, settings):
        raise web.HttpError(403, "Request from another site refused")


def check_csrf(request: Request, expected: str) -> None:
    """The synchronizer token, compared in constant time."""
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise web.HttpError(403, "Missing or stale form token; reload the page and try again")


def throttle(request: Request, db: Database[Doc], settings: Settings, now: datetime) -> None:
    """Count a sign-in attempt of this client; refuse past WEB_SIGNIN_PER_MINUTE."""
    if signin_limit.count(db, client_of(request), now) > settings.web_signin_per_minute:
        retry = str(signin_limit.retry_after(now))
        raise web.HttpError(429, "Too many sign-in attempts; wait a minute", {"Retry-After": retry})


def client_of(request: Request) -> str:
    """The caller's address: Google's front appends it as the last X-Forwarded-For entry, so
    entries a client sends itself (earlier ones) are never believed."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    last = forwarded.split(",")[-1].strip()
    return last or request.remote_addr or "unknown"


def key_identity(
    db: Database[Doc], settings: Settings, key: str, now: datetime
) -> tuple[str, Role] | None:
    """Who a presented key signs in as: the admin key is the first admin; an API key signs in
    with the role its scopes give (admin; posts:write with posts:approve -> approver, since an
    approver also edits; posts:write -> editor; posts:read -> viewer)."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    admin = settings.admin_secret_key
    if (
        settings.admin_key_enabled
        and admin is not None
        and hmac.compare_digest(key.encode(), admin.encode())
    ):
        return "admin_key", "admin"
    if not apikeys.looks_like_key(key):
        return None
    verified = apikeys.verify(db, key, now)
    if verified is None:
        return None
    role = _role_of(verified.key.scopes)
    return None if role is None else (f"key:{verified.key.id}", role)


def _role_of(scopes: frozenset[str]) -> Role | None:
    if "admin" in scopes:
        return "admin"
    if {"posts:approve", "posts:write"} <= scopes:
        return "approver"
    if "posts:write" in scopes:
        return "editor"
    if "posts:read" in scopes:
        return "viewer"
    return None


def open_session(
    db: Database[Doc], settings: Settings, who: str, role: Role, now: datetime
) -> tuple[str, Session]:
    return web_sessions.start(db, who, role, now, timedelta(hours=settings.web_session_hours))


def session_cookie(token: str, max_age: int) -> str:
    return f"{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax"


def cleared_cookie() -> str:
    return session_cookie("", 0)
