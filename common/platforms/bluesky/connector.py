"""Bluesky logins: a handle and an app password on the account's PDS, checked by logging in once.

Only an app password is accepted (four groups of four lowercase letters or digits): anything
else is most likely the account's main password, which this project never stores. The login's
session (access and refresh JWTs) comes back with the credential, so the first run needs no
login of its own. App passwords do not expire, but they can be revoked and the account can be
taken down or deactivated: `inspect` asks `getSession` with the kept session (refreshing it when
due), so a check costs no login unless the session is gone.
Account id: `bsky-` and the DID without `did:`, colons made dashes (`bsky-plc-z72i7hdy...`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

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
from common.platforms.bluesky.sessions import Session, SessionKeeper, create_session
from common.platforms.bluesky.xrpc import XrpcClient, XrpcError, XrpcReply
from common.platforms.credentials import token_for_check
from common.tokens import TokenCipher

GET_SESSION = "com.atproto.server.getSession"
DEFAULT_PDS = "https://bsky.social"
_APP_PASSWORD = re.compile(r"^[a-z0-9]{4}(-[a-z0-9]{4}){3}$")
_HOW_TO_MAKE_ONE = (
    "that is not an app password (xxxx-xxxx-xxxx-xxxx): create one in Bluesky's "
    "Settings > Privacy and security > App passwords; never use the main password"
)


def account_id_for(did: str) -> str:
    """An id usable in an API path (no colons): `did:plc:abc` -> `bsky-plc-abc`."""
    return "bsky-" + did.removeprefix("did:").replace(":", "-")


class BlueskyConnector:
    network = "bluesky"
    platforms: tuple[str, ...] = ("bluesky",)

    def __init__(
        self,
        client: XrpcClient,
        sessions: SessionKeeper,
        cipher: TokenCipher,
        *,
        allow_private: bool,
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._cipher = cipher
        self._allow_private = allow_private  # the PDS is a person's word: public_hosts

    def verify(self, login: Login, now: datetime) -> Sequence[Credential] | LoginRefused:
        if not _APP_PASSWORD.match(login.secret):
            return LoginRefused(_HOW_TO_MAKE_ONE)
        if not login.handle:
            return LoginRefused("a Bluesky login needs the handle, e.g. alice.bsky.social")
        pds = (login.server or DEFAULT_PDS).rstrip("/")
        if not pds.startswith(("https://", "http://")):
            return LoginRefused("the PDS URL must be an http(s) URL, e.g. https://bsky.social")
        refused = public_hosts.refusal(pds, allow_private=self._allow_private)
        if refused:
            return LoginRefused(f"the PDS cannot be used: {refused}")
        session = create_session(self._client, pds, login.handle, login.secret)
        if not isinstance(session, Session):
            return LoginRefused.answered("Bluesky refused the login", session)
        credential = Credential(
            account_id_for(session.did),
            "bluesky",
            session.did,
            session.handle or login.handle,
            login.secret,
            service_url=pds,
            session=session.to_json(),
        )
        return [credential]

    def inspect(self, account: Account, now: datetime) -> Inspection:
        opened = token_for_check(self._cipher, account)
        if isinstance(opened, TokenHealth):
            return Inspection(opened)
        if not account.service_url:
            return Inspection.unhealthy(account, "invalid", "no PDS URL: connect it again")
        session = self._sessions.current(account)
        if isinstance(session, AuthExpired):
            reason = f"app password refused: {session.reason}"
            return Inspection.unhealthy(account, "invalid", reason)
        if not isinstance(session, Session):
            return Inspection.check_failed(account, session)
        reply = self._client.call(
            "GET", account.service_url, GET_SESSION, bearer=session.access_jwt, idempotent=True
        )
        if isinstance(reply, XrpcReply):
            return Inspection(TokenHealth.healthy(account))
        outcome = (
            self._client.classify(reply, idempotent=True) if isinstance(reply, XrpcError) else reply
        )
        if isinstance(outcome, AuthExpired):
            return Inspection.unhealthy(account, "invalid", f"session refused: {outcome.reason}")
        return Inspection.check_failed(account, outcome)
