"""Meta logins: a user's login token -> the Pages it manages and the Instagram professional
accounts linked to them, each with its Page token; a stored token checked with /debug_token.

The short-lived login token (about an hour) is exchanged for a long-lived one with the app
secret, server side only; Page tokens read with a long-lived user token do not expire
(shared/reference/meta-graph-api.md section 5), and an Instagram professional account publishes
with its Page's token. Account ids: `fb-<page id>` and `ig-<instagram user id>`.

A stored token is inspected with the app token (`{app-id}|{app-secret}`) when both are set, or
else with the token itself. A user token cannot be refreshed without the user, so a token close
to its end is reported for re-authentication rather than refreshed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.db import Doc
from common.model import Account
from common.platforms.base import (
    Credential,
    Inspection,
    Login,
    LoginRefused,
    TokenHealth,
    TokenProblem,
)
from common.platforms.credentials import token_for_check
from common.platforms.meta.graph import GraphClient, GraphReply, granted_token
from common.tokens import TokenCipher

PAGE_FIELDS = "id,name,access_token,instagram_business_account"
MAX_PAGES = 100  # one page of /me/accounts; more Pages than this are not listed
EXPIRY_WARNING = timedelta(days=10)


@dataclass(frozen=True)
class MetaApp:
    """The app's id and secret (META_APP_ID, META_APP_SECRET): the token exchange needs both."""

    app_id: str | None
    secret: str | None = None

    def token(self) -> str | None:
        return f"{self.app_id}|{self.secret}" if self.app_id and self.secret else None


class MetaConnector:
    network = "meta"
    platforms: tuple[str, ...] = ("facebook", "instagram")

    def __init__(self, client: GraphClient, cipher: TokenCipher, app: MetaApp) -> None:
        self._client = client
        self._cipher = cipher
        self._app = app

    # --- connecting -----------------------------------------------------------------------

    def verify(self, login: Login, now: datetime) -> Sequence[Credential] | LoginRefused:
        """Every Page the login manages (or the `login.choose` ones) and its linked Instagram
        account; a chosen Page the login does not manage refuses the whole login."""
        if not self._app.app_id or not self._app.secret:
            return LoginRefused("META_APP_ID and META_APP_SECRET are required", unavailable=True)
        long_token = self._long_lived(login.secret)
        if isinstance(long_token, LoginRefused):
            return long_token
        params = {"fields": PAGE_FIELDS, "limit": MAX_PAGES}
        listed = self._client.call("GET", "me/accounts", long_token, params, idempotent=True)
        if not isinstance(listed, GraphReply):
            return LoginRefused.answered("listing the Pages failed", listed)
        pages = [entry for entry in listed.body.get("data") or () if _usable(entry)]
        missing = sorted(set(login.choose or ()) - {str(entry["id"]) for entry in pages})
        if missing:
            return LoginRefused(f"this login does not manage Page(s) {', '.join(missing)}")
        chosen = [p for p in pages if login.choose is None or str(p["id"]) in login.choose]
        return [credential for entry in chosen for credential in _credentials(entry)]

    def _long_lived(self, short_token: str) -> str | LoginRefused:
        exchange = {
            "grant_type": "fb_exchange_token",
            "client_id": self._app.app_id,
            "client_secret": self._app.secret,
            "fb_exchange_token": short_token,
        }
        reply = self._client.call("GET", "oauth/access_token", "", exchange, idempotent=True)
        return granted_token(
            reply, "the token exchange failed", "Meta answered the token exchange without a token"
        )

    # --- checking -------------------------------------------------------------------------

    def inspect(self, account: Account, now: datetime) -> Inspection:
        token = token_for_check(self._cipher, account)
        if isinstance(token, TokenHealth):
            return Inspection(token)
        inspector = self._app.token() or token
        reply = self._client.call(
            "GET", "debug_token", inspector, {"input_token": token}, idempotent=True
        )
        if not isinstance(reply, GraphReply):
            return Inspection.check_failed(account, reply)
        return Inspection(_health(account, reply.body.get("data") or {}, now))


def _usable(entry: Any) -> bool:
    return isinstance(entry, dict) and bool(entry.get("id")) and bool(entry.get("access_token"))


def _credentials(entry: dict[str, Any]) -> list[Credential]:
    page_id, token = str(entry["id"]), str(entry["access_token"])
    name = str(entry.get("name") or page_id)
    found = [Credential(f"fb-{page_id}", "facebook", page_id, name, token)]
    linked = entry.get("instagram_business_account")
    if isinstance(linked, dict) and linked.get("id"):
        ig = str(linked["id"])
        found.append(Credential(f"ig-{ig}", "instagram", ig, f"{name} (Instagram)", token))
    return found


def _health(account: Account, data: Doc, now: datetime) -> TokenHealth:
    if not data.get("is_valid"):
        error = data.get("error") or {}
        reason = f"token invalid (code {error.get('code')}/{error.get('subcode')})"
        return TokenHealth.unhealthy(account, "invalid", reason)
    expires = int(data.get("expires_at") or 0)
    expires_at = datetime.fromtimestamp(expires, UTC) if expires else None
    if expires_at is not None and expires_at - now < EXPIRY_WARNING:
        days = max((expires_at - now).days, 0)
        warning = f"expires in {days} days: re-authenticate (Meta cannot refresh it unattended)"
        return TokenHealth.healthy(account, expires_at, TokenProblem("expiring", warning))
    return TokenHealth.healthy(account, expires_at)
