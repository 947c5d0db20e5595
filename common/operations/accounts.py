"""Accounts: connect a network login (add or re-authenticate), store a token, check stored
credentials. Every network goes through its Connector (common.platforms.base): nothing here
branches on a network's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from common import accounts
from common.db import Doc
from common.platforms.base import (
    Connector,
    Credential,
    Login,
    LoginRefused,
    Registry,
    TokenHealth,
    TokenProblem,
)
from common.posts import actions
from common.tokens import TokenCipher


@dataclass(frozen=True)
class ConnectedAccount:
    account_id: str
    platform: str
    external_id: str
    name: str
    added: bool  # False: it existed and got the new credential
    posts_released: int = 0  # the posts held for its re-authentication, due again now


@dataclass(frozen=True)
class Connected:
    accounts: tuple[ConnectedAccount, ...]


def connect(
    db: Database[Doc],
    cipher: TokenCipher,
    connector: Connector,
    login: Login,
    now: datetime,
    account_id: str | None = None,
) -> Connected | LoginRefused:
    """Store, encrypted, the credentials of every account a login grants once its network
    accepts the login: a new account is created; an existing one with the same identity is
    re-authenticated (active again, its held posts released); an existing id with another
    identity refuses the whole login before anything is stored.

    `account_id` names the account for a login that grants exactly one (the network's own
    convention otherwise). Raises TokenKeyError when the cipher cannot encrypt.
    """
    verified = connector.verify(login, now)
    if isinstance(verified, LoginRefused):
        return verified
    credentials = list(verified)
    if account_id is not None:
        if len(credentials) != 1:
            return LoginRefused(
                f"this login grants {len(credentials)} accounts; an account id names only one"
            )
        credentials = [replace(credentials[0], account_id=account_id)]
    try:
        return _store_verified(db, cipher, credentials, now)
    except DuplicateKeyError:
        # A concurrent connect created one of these accounts between our read and our insert
        # (a double-clicked button, a retried request): read again, so the account it made is
        # re-authenticated with this login's credential, or refused if another identity's.
        return _store_verified(db, cipher, credentials, now)


def _store_verified(
    db: Database[Doc], cipher: TokenCipher, credentials: Sequence[Credential], now: datetime
) -> Connected | LoginRefused:
    existing = accounts.load_many(db, (c.account_id for c in credentials))
    for credential in credentials:
        known = existing.get(credential.account_id)
        if known is not None and (known.platform, known.external_id) != (
            credential.platform,
            credential.external_id,
        ):
            return LoginRefused(f"account {credential.account_id} exists for another identity")
    stored = [_store(db, cipher, c, c.account_id in existing, now) for c in credentials]
    return Connected(tuple(stored))


def _store(
    db: Database[Doc], cipher: TokenCipher, credential: Credential, exists: bool, now: datetime
) -> ConnectedAccount:
    secret = cipher.encrypt(credential.secret)
    session = None if credential.session is None else cipher.encrypt(credential.session)
    account_id = credential.account_id
    released = 0
    if exists:
        accounts.replace_token(
            db, account_id, secret, credential.expires_at, now, session_ciphertext=session
        )
        released = actions.release_held(db, account_id, now)
        if credential.instance_limits is not None:
            accounts.set_instance_limits(db, account_id, credential.instance_limits, now)
    else:
        accounts.create(
            db,
            account_id=account_id,
            platform=credential.platform,
            external_id=credential.external_id,
            name=credential.name,
            token_ciphertext=secret,
            token_expires_at=credential.expires_at,
            now=now,
            service_url=credential.service_url,
            session_ciphertext=session,
            instance_limits=credential.instance_limits,
        )
    return ConnectedAccount(
        account_id,
        credential.platform,
        credential.external_id,
        credential.name,
        added=not exists,
        posts_released=released,
    )


@dataclass(frozen=True)
class AccountDetails:
    """What a new account needs besides its token (an existing one needs none of it)."""

    platform: str | None = None
    external_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class DetailsMissing:
    """A new account needs its platform and its id there."""

    account_id: str


def store_token(
    db: Database[Doc],
    cipher: TokenCipher,
    account_id: str,
    token: str,
    details: AccountDetails,
    now: datetime,
) -> ConnectedAccount | DetailsMissing:
    """Store a token as given, unchecked (a Meta Page token from elsewhere): a new account
    needs `details`; an existing one is re-authenticated like a connect.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable."""
    existing = accounts.get(db, account_id)
    if existing is not None:
        credential = Credential(
            account_id, existing.platform, existing.external_id, existing.name, token
        )
    elif details.platform and details.external_id:
        name = details.name or account_id
        credential = Credential(account_id, details.platform, details.external_id, name, token)
    else:
        return DetailsMissing(account_id)
    return _store(db, cipher, credential, existing is not None, now)


def check_tokens(
    db: Database[Doc],
    cipher: TokenCipher,
    registry: Registry,
    now: datetime,
    only: Sequence[str] | None = None,
) -> list[TokenHealth]:
    """Inspect every account's credential (or `only` these accounts') with its network's
    Connector: an invalid one sets the account to needs_reauth, a refreshed one is stored."""
    chosen = accounts.list_all(db) if only is None else list(accounts.load_many(db, only).values())
    results: list[TokenHealth] = []
    for account in chosen:
        connector = registry.connector_for(account.platform)
        if connector is None:
            problem = TokenProblem("check_failed", f"no connector for {account.platform}")
            results.append(TokenHealth(account.id, account.platform, False, None, problem))
            continue
        inspection = connector.inspect(account, now)
        refreshed = inspection.refreshed
        if refreshed is not None:
            secret = cipher.encrypt(refreshed.secret)
            accounts.store_refreshed_token(db, account.id, secret, refreshed.expires_at, now)
        if inspection.instance_limits is not None:
            accounts.set_instance_limits(db, account.id, inspection.instance_limits, now)
        results.append(inspection.health)
    for health in results:
        if health.problem is not None and health.problem.kind == "invalid":
            accounts.mark_needs_reauth(db, health.account_id, now)
        if health.valid and health.expires_at is not None:
            accounts.set_token_expiry(db, health.account_id, health.expires_at, now)
    return results
