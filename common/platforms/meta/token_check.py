"""Is a stored Meta token still valid, and when does it expire? Asked of Meta's /debug_token.

The token is inspected with the app token (`{app-id}|{app-secret}`) when META_APP_ID and
META_APP_SECRET are set, or else with the token itself. Facebook Page tokens made from a
long-lived user token never expire (`expires_at: 0`); a user token cannot be refreshed without
the user (shared/reference/meta-graph-api.md section 5), so a token close to expiry is reported
for re-authentication rather than refreshed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.config import Settings
from common.db import Doc
from common.model import Account
from common.platforms.base import TokenHealth, TokenProblem
from common.platforms.meta.graph import GraphClient, GraphReply
from common.tokens import TokenCipher, TokenKeyError

EXPIRY_WARNING = timedelta(days=10)


def inspect(
    client: GraphClient, settings: Settings, cipher: TokenCipher, account: Account, now: datetime
) -> TokenHealth:
    try:
        token = cipher.decrypt(account.token)
    except TokenKeyError as exc:
        return _unhealthy(account, TokenProblem("key_error", str(exc)))
    inspector = (
        f"{settings.meta_app_id}|{settings.meta_app_secret}"
        if settings.meta_app_id and settings.meta_app_secret
        else token
    )
    reply = client.call("GET", "debug_token", inspector, {"input_token": token}, idempotent=True)
    if not isinstance(reply, GraphReply):
        return _unhealthy(account, TokenProblem("check_failed", f"check failed: {reply}"))
    return _health(account, reply.body.get("data") or {}, now)


def _health(account: Account, data: Doc, now: datetime) -> TokenHealth:
    if not data.get("is_valid"):
        error = data.get("error") or {}
        reason = f"token invalid (code {error.get('code')}/{error.get('subcode')})"
        return _unhealthy(account, TokenProblem("invalid", reason))
    expires = int(data.get("expires_at") or 0)
    expires_at = datetime.fromtimestamp(expires, UTC) if expires else None
    problem: TokenProblem | None = None
    if expires_at is not None and expires_at - now < EXPIRY_WARNING:
        days = max((expires_at - now).days, 0)
        problem = TokenProblem(
            "expiring",
            f"expires in {days} days: re-authenticate (Meta cannot refresh it unattended)",
        )
    return TokenHealth(account.id, account.platform, True, expires_at, problem)


def _unhealthy(account: Account, problem: TokenProblem) -> TokenHealth:
    return TokenHealth(account.id, account.platform, False, None, problem)
