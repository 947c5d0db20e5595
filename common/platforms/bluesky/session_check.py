"""Is a Bluesky account's app password still good? Asked with its session (`getSession`).

App passwords do not expire, but they can be revoked, and the account can be taken down or
deactivated. The check uses the kept session (refreshing it when due), so it costs no login
unless the session is gone; a refused login or refresh is an invalid credential.
"""

from __future__ import annotations

from common.model import Account
from common.platforms.base import AuthExpired, TokenHealth, TokenProblem
from common.platforms.bluesky.sessions import Session, SessionKeeper
from common.platforms.bluesky.xrpc import XrpcClient, XrpcError, XrpcReply
from common.tokens import TokenCipher, TokenKeyError

GET_SESSION = "com.atproto.server.getSession"


def inspect(
    client: XrpcClient, keeper: SessionKeeper, cipher: TokenCipher, account: Account
) -> TokenHealth:
    try:
        cipher.decrypt(account.token)
    except TokenKeyError as exc:
        return _unhealthy(account, TokenProblem("key_error", str(exc)))
    if not account.service_url:
        return _unhealthy(account, TokenProblem("invalid", "no PDS URL: connect it again"))
    session = keeper.current(account)
    if isinstance(session, AuthExpired):
        return _unhealthy(
            account, TokenProblem("invalid", f"app password refused: {session.reason}")
        )
    if not isinstance(session, Session):
        return _unhealthy(account, TokenProblem("check_failed", f"check failed: {session}"))
    reply = client.call(
        "GET", account.service_url, GET_SESSION, bearer=session.access_jwt, idempotent=True
    )
    if isinstance(reply, XrpcReply):
        return TokenHealth(account.id, account.platform, True, None, None)
    outcome = client.classify(reply, idempotent=True) if isinstance(reply, XrpcError) else reply
    if isinstance(outcome, AuthExpired):
        return _unhealthy(account, TokenProblem("invalid", f"session refused: {outcome.reason}"))
    return _unhealthy(account, TokenProblem("check_failed", f"check failed: {outcome}"))


def _unhealthy(account: Account, problem: TokenProblem) -> TokenHealth:
    return TokenHealth(account.id, account.platform, False, None, problem)
