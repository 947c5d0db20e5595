"""What every adapter needs about an account's credential: opening it for a publish, a
read-back or a check.

The stored credential (a Meta token, a Bluesky app password) is ciphertext (common.tokens). A
key that cannot open it is the deployment's problem (a key rotated out too early, the wrong
secret version), never the account's: a publish is deferred without pausing the account or
calling it rate limited, and a check reports `key_error` rather than an invalid credential.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from common.model import Account
from common.platforms.base import Deferred, TokenHealth
from common.tokens import TokenCipher, TokenKeyError

log = logging.getLogger(__name__)


class ReadBackError(RuntimeError):
    """The platform could not be asked; the post's fate is still unknown (try again later)."""


# A missing or wrong encryption key is a deployment problem; look again after this long.
KEY_PROBLEM_RETRY = timedelta(minutes=5)
# What a post deferred by a key problem records as its last error.
KEY_ERROR = "token_key_error"


def open_token(cipher: TokenCipher, account: Account, now: datetime) -> str | Deferred:
    """The plaintext token, or a deferral of this post when the configured keys cannot give it.

    Marking the account for re-authentication, or pausing it, would outlive the fix: the post
    waits, no attempt spent, and the error is logged until the operator restores the key.
    """
    try:
        return cipher.decrypt(account.token)
    except TokenKeyError as exc:
        return key_problem(account, exc, now)


def key_problem(account: Account, exc: TokenKeyError, now: datetime) -> Deferred:
    log.error(
        "token cannot be decrypted or encrypted; posts wait",
        extra={"accountId": account.id, "reason": str(exc)},
    )
    return Deferred(now + KEY_PROBLEM_RETRY, KEY_ERROR, str(exc))


def token_for_read_back(cipher: TokenCipher, account: Account, now: datetime) -> str:
    """The plaintext token for a read-back; a key problem means nothing can be looked at."""
    token = open_token(cipher, account, now)
    if not isinstance(token, str):
        raise ReadBackError("account token cannot be opened")
    return token


def token_for_check(cipher: TokenCipher, account: Account) -> str | TokenHealth:
    """The plaintext token for a credential check, or the `key_error` health to report."""
    try:
        return cipher.decrypt(account.token)
    except TokenKeyError as exc:
        return TokenHealth.unhealthy(account, "key_error", str(exc))
