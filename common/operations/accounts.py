"""Accounts: connect a network login, store a token, check stored credentials."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

from common import accounts, posts
from common.accounts import Account
from common.config import Settings
from common.db import Doc
from common.platforms.base import TokenHealth
from common.platforms.bluesky import session_check as bluesky_check
from common.platforms.bluesky.sessions import Session, create_session
from common.platforms.bluesky.xrpc import XrpcClient
from common.platforms.mastodon import token_check as mastodon_check
from common.platforms.mastodon.client import MastodonClient
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.onboarding import OnboardingFailed, pages_for
from common.platforms.meta.token_check import inspect
from common.platforms.registry import bluesky_sessions, threads_client
from common.platforms.threads import token_check as threads_check
from common.tokens import TokenCipher


@dataclass(frozen=True)
class AccountDetails:
    """What a new account needs besides its token (an existing one needs none of it)."""

    platform: str | None = None
    external_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Added:
    account_id: str


@dataclass(frozen=True)
class Reauthenticated:
    account_id: str
    posts_released: int


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
) -> Added | Reauthenticated | DetailsMissing:
    """Add an account, or re-authenticate an existing one: the token is stored encrypted.

    Re-authentication makes the account active again and releases exactly the posts held for
    it (posts.release_held). Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable.
    """
    ciphertext = cipher.encrypt(token)
    if accounts.replace_token(db, account_id, ciphertext, None, now):
        return Reauthenticated(account_id, posts.release_held(db, account_id, now))
    if not details.platform or not details.external_id:
        return DetailsMissing(account_id)
    accounts.create(
        db,
        account_id=account_id,
        platform=details.platform,
        external_id=details.external_id,
        name=details.name or account_id,
        token_ciphertext=ciphertext,
        token_expires_at=None,
        now=now,
    )
    return Added(account_id)


@dataclass(frozen=True)
class ConnectedAccount:
    account_id: str
    platform: str
    external_id: str
    name: str
    added: bool  # False: it existed and got the new token (its held posts were released)


@dataclass(frozen=True)
class Connected:
    accounts: tuple[ConnectedAccount, ...]


def connect_meta(
    db: Database[Doc],
    settings: Settings,
    user_token: str,
    now: datetime,
    pages: Sequence[str] | None = None,
) -> Connected | OnboardingFailed:
    """Store the Page tokens (encrypted) of the Pages a Meta login grants, and of the Instagram
    professional accounts linked to them: `fb-<page id>` and `ig-<instagram id>`.

    `pages` chooses some of the Pages (by id); None takes all. Raises TokenKeyError when
    TOKEN_ENCRYPTION_KEY is unusable.
    """
    cipher = TokenCipher.from_settings(settings)
    client = GraphClient(settings)
    try:
        grants = pages_for(client, settings, user_token)
    finally:
        client.close()
    if isinstance(grants, OnboardingFailed):
        return grants
    chosen = [g for g in grants if pages is None or g.page_id in pages]
    missing = sorted(set(pages or ()) - {g.page_id for g in grants})
    if missing:
        reason = f"this login does not manage Page(s) {', '.join(missing)}"
        return OnboardingFailed("refused", reason)
    stored: list[ConnectedAccount] = []
    for grant in chosen:
        targets = [("fb", "facebook", grant.page_id, grant.name)]
        if grant.instagram_id is not None:
            targets.append(("ig", "instagram", grant.instagram_id, f"{grant.name} (Instagram)"))
        for prefix, platform, external_id, name in targets:
            account_id = f"{prefix}-{external_id}"
            details = AccountDetails(platform, external_id, name)
            result = store_token(db, cipher, account_id, grant.page_token, details, now)
            added = isinstance(result, Added)
            stored.append(ConnectedAccount(account_id, platform, external_id, name, added))
    return Connected(tuple(stored))


# An app password is four groups of four lowercase letters or digits; anything else is most
# likely the account's main password, which this project never stores.
_APP_PASSWORD = re.compile(r"^[a-z0-9]{4}(-[a-z0-9]{4}){3}$")


@dataclass(frozen=True)
class ConnectRefused:
    """Nothing was stored; `reason` says what to fix."""

    reason: str


@dataclass(frozen=True)
class BlueskyLogin:
    handle: str
    app_password: str
    service_url: str  # the account's PDS, e.g. https://bsky.social


def connect_bluesky(
    db: Database[Doc], settings: Settings, account_id: str, login: BlueskyLogin, now: datetime
) -> Added | Reauthenticated | ConnectRefused:
    """Log in once with the handle and app password: the account is stored only when Bluesky
    accepts them, with the app password and the session encrypted (the session spares every
    later run a login). An existing account gets the new credential and its held posts back.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable."""
    if not _APP_PASSWORD.match(login.app_password):
        return ConnectRefused(
            "that is not an app password (xxxx-xxxx-xxxx-xxxx): create one in Bluesky's "
            "Settings > Privacy and security > App passwords; never use the main password"
        )
    if not login.service_url.startswith(("https://", "http://")):
        return ConnectRefused("the PDS URL must be an http(s) URL, e.g. https://bsky.social")
    cipher = TokenCipher.from_settings(settings)
    client = XrpcClient(settings)
    try:
        session = create_session(client, login.service_url, login.handle, login.app_password)
    finally:
        client.close()
    if not isinstance(session, Session):
        return ConnectRefused(f"Bluesky refused the login: {_reason(session)}")
    password = cipher.encrypt(login.app_password)
    kept = cipher.encrypt(session.to_json())
    existing = accounts.get(db, account_id)
    if existing is not None:
        if existing.platform != "bluesky" or existing.external_id != session.did:
            return ConnectRefused(f"account {account_id} exists for another identity")
        accounts.replace_token(db, account_id, password, None, now, session_ciphertext=kept)
        return Reauthenticated(account_id, posts.release_held(db, account_id, now))
    accounts.create(
        db,
        account_id=account_id,
        platform="bluesky",
        external_id=session.did,
        name=session.handle or login.handle,
        token_ciphertext=password,
        token_expires_at=None,
        now=now,
        service_url=login.service_url.rstrip("/"),
        session_ciphertext=kept,
    )
    return Added(account_id)


@dataclass(frozen=True)
class MastodonLogin:
    instance_url: str  # e.g. https://mastodon.social
    access_token: str  # scopes: see common/platforms/mastodon/connector.py


def connect_mastodon(
    db: Database[Doc], settings: Settings, account_id: str, login: MastodonLogin, now: datetime
) -> Added | Reauthenticated | ConnectRefused:
    """The token is stored (encrypted) only when the instance accepts it (verify_credentials),
    with the instance URL and the account's id there. An existing account gets the new token
    and its held posts back.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable."""
    instance = login.instance_url.rstrip("/")
    if not instance.startswith(("https://", "http://")):
        return ConnectRefused("the instance must be an http(s) URL, e.g. https://mastodon.social")
    cipher = TokenCipher.from_settings(settings)
    client = MastodonClient(settings)
    try:
        found = mastodon_check.who_am_i(client, instance, login.access_token)
    finally:
        client.close()
    if not isinstance(found, mastodon_check.Identity):
        return ConnectRefused(f"the instance refused the token: {_reason(found)}")
    token = cipher.encrypt(login.access_token)
    existing = accounts.get(db, account_id)
    if existing is not None:
        if existing.platform != "mastodon" or existing.external_id != found.account_id:
            return ConnectRefused(f"account {account_id} exists for another identity")
        accounts.replace_token(db, account_id, token, None, now)
        return Reauthenticated(account_id, posts.release_held(db, account_id, now))
    accounts.create(
        db,
        account_id=account_id,
        platform="mastodon",
        external_id=found.account_id,
        name=found.acct,
        token_ciphertext=token,
        token_expires_at=None,
        now=now,
        service_url=instance,
    )
    return Added(account_id)


@dataclass(frozen=True)
class ThreadsLogin:
    access_token: str  # a long-lived Threads token (threads_basic, threads_content_publish)


def connect_threads(
    db: Database[Doc], settings: Settings, account_id: str, login: ThreadsLogin, now: datetime
) -> Added | Reauthenticated | ConnectRefused:
    """The token is stored (encrypted) only when Threads accepts it (`/me` gives the profile
    id). Its expiry is taken as 60 days from now (a long-lived token just made from the OAuth
    flow); `accounts check` refreshes it before then.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable."""
    cipher = TokenCipher.from_settings(settings)
    client = threads_client(settings)
    try:
        found = threads_check.who_am_i(client, login.access_token)
    finally:
        client.close()
    if not isinstance(found, threads_check.Identity):
        return ConnectRefused(f"Threads refused the token: {_reason(found)}")
    token, expires = cipher.encrypt(login.access_token), now + threads_check.LONG_LIVED
    existing = accounts.get(db, account_id)
    if existing is not None:
        if existing.platform != "threads" or existing.external_id != found.user_id:
            return ConnectRefused(f"account {account_id} exists for another identity")
        accounts.replace_token(db, account_id, token, expires, now)
        return Reauthenticated(account_id, posts.release_held(db, account_id, now))
    accounts.create(
        db,
        account_id=account_id,
        platform="threads",
        external_id=found.user_id,
        name=found.username,
        token_ciphertext=token,
        token_expires_at=expires,
        now=now,
    )
    return Added(account_id)


def _reason(outcome: object) -> str:
    for name in ("reason", "message"):
        if isinstance(getattr(outcome, name, None), str):
            return str(getattr(outcome, name))
    return type(outcome).__name__


def check_tokens(
    db: Database[Doc], settings: Settings, now: datetime, only: Sequence[str] | None = None
) -> list[TokenHealth]:
    """Inspect every account's credential (or `only` these accounts') with its own network; an
    invalid one sets the account to needs_reauth."""
    chosen = accounts.list_all(db) if only is None else list(accounts.load_many(db, only).values())
    graph, xrpc, mastodon = GraphClient(settings), XrpcClient(settings), MastodonClient(settings)
    threads, threads_refresh = threads_client(settings), threads_client(settings, versioned=False)
    cipher = TokenCipher.from_settings(settings)
    sessions = bluesky_sessions(settings, cipher)

    def one(account: Account) -> TokenHealth:
        if account.platform == "threads":
            health, renewed = threads_check.inspect(threads, threads_refresh, cipher, account, now)
            if renewed is not None:
                accounts.store_refreshed_token(
                    db, account.id, cipher.encrypt(renewed.token), renewed.expires_at, now
                )
            return health
        if account.platform == "bluesky":
            return bluesky_check.inspect(xrpc, sessions, cipher, account)
        if account.platform == "mastodon":
            return mastodon_check.inspect(mastodon, cipher, account)
        return inspect(graph, settings, cipher, account, now)

    try:
        results = [one(a) for a in chosen]
    finally:
        for client in (graph, xrpc, mastodon, threads, threads_refresh):
            client.close()
    for health in results:
        if health.problem is not None and health.problem.kind == "invalid":
            accounts.mark_needs_reauth(db, health.account_id, now)
        if health.valid and health.expires_at is not None:
            accounts.set_token_expiry(db, health.account_id, health.expires_at, now)
    return results
