"""Threads logins: a long-lived Threads token, checked with `/me`, refreshed before it expires.

A long-lived Threads token lasts 60 days and can be refreshed (`th_refresh_token`) once it is
at least 24 hours old and not expired; a refreshed token lasts 60 days from the refresh
(developers.facebook.com/docs/threads/get-started/long-lived-tokens). `inspect` refreshes a
token with less than REFRESH_WHEN_LEFT to go, so one check a month keeps it alive. A login's
expiry is taken as 60 days from the connect (a long-lived token just made by the OAuth flow).
Account id: `th-<Threads user id>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from common.model import Account
from common.platforms.base import (
    AuthExpired,
    Credential,
    Failure,
    Inspection,
    Login,
    LoginRefused,
    TokenHealth,
    TokenProblem,
    failure_reason,
)
from common.platforms.credentials import token_for_check
from common.platforms.meta.graph import GraphClient, GraphReply
from common.tokens import TokenCipher

LONG_LIVED = timedelta(days=60)
REFRESH_WHEN_LEFT = timedelta(days=30)


class ThreadsConnector:
    network = "threads"
    platforms: tuple[str, ...] = ("threads",)

    def __init__(self, client: GraphClient, unversioned: GraphClient, cipher: TokenCipher) -> None:
        """`unversioned`: the client for Threads' one unversioned call, the refresh."""
        self._client = client
        self._unversioned = unversioned
        self._cipher = cipher

    def verify(self, login: Login, now: datetime) -> Sequence[Credential] | LoginRefused:
        reply = self._me(login.secret)
        if not isinstance(reply, GraphReply):
            return LoginRefused.answered("Threads refused the token", reply)
        user_id = str(reply.body["id"])
        name = str(reply.body.get("username") or user_id)
        return [
            Credential(f"th-{user_id}", "threads", user_id, name, login.secret, now + LONG_LIVED)
        ]

    def inspect(self, account: Account, now: datetime) -> Inspection:
        token = token_for_check(self._cipher, account)
        if isinstance(token, TokenHealth):
            return Inspection(token)
        found = self._me(token)
        if isinstance(found, AuthExpired):
            return Inspection.unhealthy(account, "invalid", f"token refused: {found.reason}")
        if not isinstance(found, GraphReply):
            return Inspection.check_failed(account, found)
        expires = account.token_expires_at
        if expires is None or expires - now >= REFRESH_WHEN_LEFT:
            return Inspection(TokenHealth.healthy(account, expires))
        return self._refresh(account, token, now)

    def _me(self, token: str) -> GraphReply | Failure:
        return self._client.call("GET", "me", token, {"fields": "id,username"}, idempotent=True)

    def _refresh(self, account: Account, token: str, now: datetime) -> Inspection:
        reply = self._unversioned.call(
            "GET",
            "refresh_access_token",
            token,
            {"grant_type": "th_refresh_token"},
            idempotent=True,
        )
        if not isinstance(reply, GraphReply):
            # Still valid, but not renewed (too young, or Threads refused): say so, keep it.
            left = account.token_expires_at
            warning = f"refresh failed ({failure_reason(reply)}); expires {left}"
            return Inspection(TokenHealth.healthy(account, left, TokenProblem("expiring", warning)))
        seconds = int(reply.body.get("expires_in") or LONG_LIVED.total_seconds())
        expires_at = now + timedelta(seconds=seconds)
        renewed = Credential(
            account.id,
            account.platform,
            account.external_id,
            account.name,
            str(reply.body["access_token"]),
            expires_at,
        )
        return Inspection(TokenHealth.healthy(account, expires_at), renewed)
