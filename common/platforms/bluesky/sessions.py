"""Bluesky sessions: log in once, keep the session encrypted on the account, refresh it.

`createSession` is limited to 30 logins per 5 minutes and 300 a day per handle, so a login per
post would lock an account out. A session (access and refresh JWTs) is kept in memory for the
instance's life and stored encrypted on the account (`accounts.store_session`) for the next
cold start; an expiring access JWT is refreshed with `refreshSession`, and only a refresh that
fails logs in again with the app password.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from common.model import Account
from common.platforms.base import Deferred, Failure, Retryable
from common.platforms.bluesky.xrpc import XrpcClient, XrpcError, XrpcReply
from common.platforms.credentials import key_problem, open_token
from common.tokens import TokenCipher, TokenKeyError

CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"
# Refresh an access JWT this long before it expires, so a send never starts with a dying one.
REFRESH_MARGIN = timedelta(seconds=60)

# The DID syntax (atproto.com/specs/did): a method, then an identifier without `/`.
DID = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")
SaveSession = Callable[[str, str], None]  # (account id, session ciphertext)


@dataclass(frozen=True)
class Session:
    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str

    def access_expires_at(self) -> datetime | None:
        return _jwt_expiry(self.access_jwt)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Session:
        data = json.loads(raw)
        return cls(data["did"], data["handle"], data["access_jwt"], data["refresh_jwt"])

    @classmethod
    def from_reply(cls, body: dict[str, object]) -> Session | Retryable:
        """The session in a createSession or refreshSession answer. A PDS is whatever server a
        person names: an answer without a usable one is a failure, not a crash, and a DID must
        be one (its identifier becomes part of the account id, so no `/`)."""
        did, access, refresh = body.get("did"), body.get("accessJwt"), body.get("refreshJwt")
        if not (isinstance(did, str) and DID.fullmatch(did)):
            return Retryable("the PDS answered without a DID")
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            return Retryable("the PDS answered without the session's tokens")
        return cls(did, str(body.get("handle") or ""), access, refresh)


class SessionKeeper:
    """One session per account, shared by the instance's workers."""

    def __init__(
        self,
        client: XrpcClient,
        cipher: TokenCipher,
        save: SaveSession,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._cipher = cipher
        self._save = save
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._account_locks: dict[str, threading.Lock] = {}

    def current(self, account: Account) -> Session | Failure | Deferred:
        """A session whose access JWT is good for at least REFRESH_MARGIN.

        One worker at a time per account: concurrent first posts share one login."""
        with self._lock:
            account_lock = self._account_locks.setdefault(account.id, threading.Lock())
        with account_lock:
            return self._current(account)

    def _current(self, account: Account) -> Session | Failure | Deferred:
        session = self._known(account)
        if session is None:
            return self.log_in(account)
        expires = session.access_expires_at()
        if expires is not None and expires - self._clock() < REFRESH_MARGIN:
            return self.refresh(account, session)
        return session

    def refresh(self, account: Account, stale: Session) -> Session | Failure | Deferred:
        """A new access JWT from the refresh JWT; a refused refresh logs in again."""
        service = _service(account)
        reply = self._client.call(
            "POST", service, REFRESH_SESSION, bearer=stale.refresh_jwt, idempotent=True
        )
        if isinstance(reply, XrpcReply):
            session = Session.from_reply(reply.body)
            return self._keep(account, session) if isinstance(session, Session) else session
        if isinstance(reply, XrpcError):
            if reply.status in (400, 401):
                return self.log_in(account)  # the refresh JWT expired or was rotated away
            return self._client.classify(reply, idempotent=True)
        return reply

    def log_in(self, account: Account) -> Session | Failure | Deferred:
        """createSession with the app password (the account's stored credential)."""
        password = open_token(self._cipher, account, self._clock())
        if not isinstance(password, str):
            return password
        session = create_session(self._client, _service(account), account.external_id, password)
        return self._keep(account, session) if isinstance(session, Session) else session

    def forget(self, account: Account) -> None:
        with self._lock:
            self._sessions.pop(account.id, None)

    def _known(self, account: Account) -> Session | None:
        with self._lock:
            session = self._sessions.get(account.id)
        if session is not None or not account.session:
            return session
        try:
            session = Session.from_json(self._cipher.decrypt(account.session))
        except (TokenKeyError, ValueError, KeyError):
            return None  # unreadable: a fresh login replaces it
        with self._lock:
            self._sessions.setdefault(account.id, session)
        return session

    def _keep(self, account: Account, session: Session) -> Session | Failure | Deferred:
        with self._lock:
            self._sessions[account.id] = session
        try:
            self._save(account.id, self._cipher.encrypt(session.to_json()))
        except TokenKeyError as exc:  # the in-memory session still serves this instance
            return key_problem(account, exc, self._clock())
        return session


def create_session(
    client: XrpcClient, service: str, identifier: str, password: str
) -> Session | Failure:
    """One login (createSession) with a handle or DID and an app password."""
    reply = client.call(
        "POST",
        service,
        CREATE_SESSION,
        body={"identifier": identifier, "password": password},
        secrets=[password],
        idempotent=True,
    )
    if isinstance(reply, XrpcError):
        return client.classify(reply, idempotent=True)
    if not isinstance(reply, XrpcReply):
        return reply
    return Session.from_reply(reply.body)


def _service(account: Account) -> str:
    if not account.service_url:
        raise ValueError(f"account {account.id} has no service URL (its PDS)")
    return account.service_url


def _jwt_expiry(jwt: str) -> datetime | None:
    """The `exp` claim, read without verifying: only to know when to refresh (the PDS is the
    judge of validity). None when the token is not a JWT with an `exp`."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None
