"""Threads tokens: checked with `/me`, and refreshed before they expire.

A long-lived Threads token lasts 60 days and can be refreshed (`th_refresh_token`) once it is
at least 24 hours old and not expired; a refreshed token lasts 60 days from the refresh
(developers.facebook.com/docs/threads/get-started/long-lived-tokens). `accounts check` refreshes
a token with less than REFRESH_WHEN_LEFT to go, so one run a month keeps it alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from common.accounts import Account
from common.platforms.base import AuthExpired, Failure, TokenHealth, TokenProblem
from common.platforms.meta.graph import GraphClient, GraphReply
from common.tokens import TokenCipher, TokenKeyError

LONG_LIVED = timedelta(days=60)
REFRESH_WHEN_LEFT = timedelta(days=30)


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str


@dataclass(frozen=True)
class Refreshed:
    token: str
    expires_at: datetime


def who_am_i(client: GraphClient, token: str) -> Identity | Failure:
    reply = client.call("GET", "me", token, {"fields": "id,username"}, idempotent=True)
    if not isinstance(reply, GraphReply):
        return reply
    return Identity(str(reply.body["id"]), str(reply.body.get("username", "")))


def refresh(unversioned: GraphClient, token: str, now: datetime) -> Refreshed | Failure:
    reply = unversioned.call(
        "GET", "refresh_access_token", token, {"grant_type": "th_refresh_token"}, idempotent=True
    )
    if not isinstance(reply, GraphReply):
        return reply
    seconds = int(reply.body.get("expires_in") or LONG_LIVED.total_seconds())
    return Refreshed(str(reply.body["access_token"]), now + timedelta(seconds=seconds))


def due_for_refresh(account: Account, now: datetime) -> bool:
    expires = account.token_expires_at
    return expires is not None and expires - now < REFRESH_WHEN_LEFT


def inspect(
    client: GraphClient,
    unversioned: GraphClient,
    cipher: TokenCipher,
    account: Account,
    now: datetime,
) -> tuple[TokenHealth, Refreshed | None]:
    """The token's health, and a refreshed token when it was due (the caller stores it).

    `unversioned` is the client for Threads' one unversioned call, the refresh."""
    try:
        token = cipher.decrypt(account.token)
    except TokenKeyError as exc:
        return _unhealthy(account, TokenProblem("key_error", str(exc))), None
    found = who_am_i(client, token)
    if isinstance(found, AuthExpired):
        return _unhealthy(account, TokenProblem("invalid", f"token refused: {found.reason}")), None
    if not isinstance(found, Identity):
        return _unhealthy(account, TokenProblem("check_failed", f"check failed: {found}")), None
    if not due_for_refresh(account, now):
        return _healthy(account, account.token_expires_at), None
    renewed = refresh(unversioned, token, now)
    if isinstance(renewed, Refreshed):
        return _healthy(account, renewed.expires_at), renewed
    # Still valid, but not renewed (too young, or Threads refused): say so, keep the old one.
    left = account.token_expires_at
    problem = TokenProblem("expiring", f"refresh failed ({renewed}); expires {left}")
    return TokenHealth(account.id, account.platform, True, left, problem), None


def _healthy(account: Account, expires_at: datetime | None) -> TokenHealth:
    return TokenHealth(account.id, account.platform, True, expires_at, None)


def _unhealthy(account: Account, problem: TokenProblem) -> TokenHealth:
    return TokenHealth(account.id, account.platform, False, None, problem)
