"""Is a Mastodon access token still good? Asked of `verify_credentials` on its instance.

Mastodon's OAuth tokens do not expire by default, but a user can revoke them and an instance
can suspend the account: either answers 401/403, which means re-authentication.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.accounts import Account
from common.platforms.base import AuthExpired, Failure, TokenHealth, TokenProblem
from common.platforms.mastodon.client import MastodonClient, MastodonReply
from common.tokens import TokenCipher, TokenKeyError

VERIFY = "v1/accounts/verify_credentials"


@dataclass(frozen=True)
class Identity:
    account_id: str
    acct: str


def who_am_i(client: MastodonClient, instance: str, token: str) -> Identity | Failure:
    """The token's account on the instance, or the failure outcome."""
    reply = client.call("GET", instance, VERIFY, token, idempotent=True)
    if not isinstance(reply, MastodonReply):
        return reply
    return Identity(str(reply.body["id"]), str(reply.body.get("acct", "")))


def inspect(client: MastodonClient, cipher: TokenCipher, account: Account) -> TokenHealth:
    try:
        token = cipher.decrypt(account.token)
    except TokenKeyError as exc:
        return _unhealthy(account, TokenProblem("key_error", str(exc)))
    if not account.service_url:
        return _unhealthy(account, TokenProblem("invalid", "no instance URL: connect it again"))
    found = who_am_i(client, account.service_url, token)
    if isinstance(found, Identity):
        return TokenHealth(account.id, account.platform, True, None, None)
    if isinstance(found, AuthExpired):
        return _unhealthy(account, TokenProblem("invalid", f"token refused: {found.reason}"))
    return _unhealthy(account, TokenProblem("check_failed", f"check failed: {found}"))


def _unhealthy(account: Account, problem: TokenProblem) -> TokenHealth:
    return TokenHealth(account.id, account.platform, False, None, problem)
