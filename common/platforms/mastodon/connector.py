"""Mastodon logins: an access token on an instance, checked with `verify_credentials`.

Mastodon's OAuth tokens do not expire by default, but a user can revoke them and an instance
can suspend the account: either answers 401/403, which means re-authentication. The token needs
the scopes write:statuses and write:media (posting), read:statuses (finding a post again) and
profile (or read:accounts): `verify_credentials` refuses a token without it, at connect and at
every check (docs.joinmastodon.org/methods/accounts).
Account id: `masto-<instance host>-<account id there>` (ids are unique per instance only; a
port's colon becomes a dash).

The instance's own limits (`GET /api/v2/instance`, public: characters per status, attachments,
sizes, types, alt text) are read at connect and by a check once they are older than
INSTANCE_LIMITS_MAX_AGE; when the instance does not answer them, the defaults apply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from common.media_rules import INSTANCE_LIMITS_MAX_AGE, MastodonInstanceLimits
from common.model import Account
from common.platforms import public_hosts
from common.platforms.base import (
    AuthExpired,
    Credential,
    Inspection,
    Login,
    LoginRefused,
    TokenHealth,
)
from common.platforms.credentials import token_for_check
from common.platforms.mastodon.client import MastodonClient, MastodonReply
from common.tokens import TokenCipher

VERIFY = "v1/accounts/verify_credentials"
INSTANCE = "v2/instance"
# Mastodon's ids are numeric strings; this also keeps `/` and `:` out of account ids.
REMOTE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def _identity(body: object) -> tuple[str, str] | None:
    """The account's id and name in verify_credentials' answer, or None for anything else: an
    instance is whatever server a person names, and its id becomes part of the account id."""
    if not isinstance(body, dict):
        return None
    remote_id = body.get("id")
    if isinstance(remote_id, bool) or not isinstance(remote_id, str | int):
        return None
    if not REMOTE_ID.fullmatch(str(remote_id)):
        return None
    return str(remote_id), str(body.get("acct") or remote_id)


def account_id_for(instance: str, remote_id: str) -> str:
    host = urlsplit(instance).netloc.lower().replace(":", "-")
    return f"masto-{host}-{remote_id}"


class MastodonConnector:
    network = "mastodon"
    platforms: tuple[str, ...] = ("mastodon",)

    def __init__(self, client: MastodonClient, cipher: TokenCipher, *, allow_private: bool) -> None:
        self._client = client
        self._cipher = cipher
        self._allow_private = allow_private  # the instance is a person's word: public_hosts

    def verify(self, login: Login, now: datetime) -> Sequence[Credential] | LoginRefused:
        instance = (login.server or "").rstrip("/")
        if not instance.startswith(("https://", "http://")) or not urlsplit(instance).netloc:
            return LoginRefused("the instance must be an http(s) URL, e.g. https://mastodon.social")
        refused = public_hosts.refusal(instance, allow_private=self._allow_private)
        if refused:
            return LoginRefused(f"the instance cannot be used: {refused}")
        reply = self._client.call("GET", instance, VERIFY, login.secret, idempotent=True)
        if not isinstance(reply, MastodonReply):
            return LoginRefused.answered("the instance refused the token", reply)
        identity = _identity(reply.body)
        if identity is None:
            return LoginRefused("the instance did not answer a Mastodon account for the token")
        remote_id, name = identity
        credential = Credential(
            account_id_for(instance, remote_id),
            "mastodon",
            remote_id,
            name,
            login.secret,
            service_url=instance,
            instance_limits=self._limits(instance, login.secret, now),
        )
        return [credential]

    def _limits(self, instance: str, token: str, now: datetime) -> MastodonInstanceLimits | None:
        reply = self._client.call("GET", instance, INSTANCE, token, idempotent=True)
        if not isinstance(reply, MastodonReply) or not isinstance(reply.body, dict):
            return None
        configuration = reply.body.get("configuration")
        if not isinstance(configuration, dict):
            return None
        return MastodonInstanceLimits.from_configuration(configuration, now)

    def _stale(self, account: Account, now: datetime) -> bool:
        known = account.instance_limits
        return known is None or now - known.read_at >= INSTANCE_LIMITS_MAX_AGE

    def inspect(self, account: Account, now: datetime) -> Inspection:
        token = token_for_check(self._cipher, account)
        if isinstance(token, TokenHealth):
            return Inspection(token)
        if not account.service_url:
            return Inspection.unhealthy(account, "invalid", "no instance URL: connect it again")
        reply = self._client.call("GET", account.service_url, VERIFY, token, idempotent=True)
        if isinstance(reply, MastodonReply):
            fresh = (
                self._limits(account.service_url, token, now) if self._stale(account, now) else None
            )
            return Inspection(TokenHealth.healthy(account), instance_limits=fresh)
        if isinstance(reply, AuthExpired):
            return Inspection.unhealthy(account, "invalid", f"token refused: {reply.reason}")
        return Inspection.check_failed(account, reply)
