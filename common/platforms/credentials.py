"""What every adapter needs about an account's credential: opening it, and how healthy it is.

The stored credential (a Meta token, a Bluesky app password) is ciphertext (common.tokens);
`open_token` turns a key problem into a deferral, and `TokenHealth` is what `accounts check`
reports for any network.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from common.accounts import Account
from common.platforms.base import Outcome, RateLimited
from common.tokens import TokenCipher, TokenKeyError

log = logging.getLogger(__name__)


class ReadBackError(RuntimeError):
    """The platform could not be asked; the post's fate is still unknown (try again later)."""


# A missing or wrong encryption key is a deployment problem; look again after this long.
KEY_PROBLEM_RETRY = timedelta(minutes=5)


def open_token(cipher: TokenCipher, account: Account, now: datetime) -> str | Outcome:
    """The plaintext token, or a deferral when the configured keys cannot give it.

    A missing key, or one that does not open the stored token, is a deployment problem (a key
    rotated out too early, the wrong secret version), not the account's: marking the account
    for re-authentication would outlive the fix. The post waits, no attempt spent, and the
    error is logged until the operator restores the key.
    """
    try:
        return cipher.decrypt(account.token)
    except TokenKeyError as exc:
        log.error(
            "token cannot be decrypted; posts wait",
            extra={"accountId": account.id, "reason": str(exc)},
        )
        return RateLimited(now + KEY_PROBLEM_RETRY, str(exc))


def token_for_read_back(cipher: TokenCipher, account: Account, now: datetime) -> str:
    """The plaintext token for a read-back; a key problem means nothing can be looked at."""
    token = open_token(cipher, account, now)
    if not isinstance(token, str):
        raise ReadBackError("account token cannot be opened")
    return token
