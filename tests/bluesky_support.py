"""Helpers for tests that publish through the real Bluesky adapter to the sandbox PDS."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database

from common import accounts
from common.clock import ScheduledTime, utcnow
from common.db import Doc
from common.model import Account, Content
from common.posts import store
from common.tokens import TokenCipher
from devstack.sandbox.control import BlueskySandbox
from tests.meta_support import TOKEN_KEY


def bluesky_env(sandbox: BlueskySandbox, **extra: object) -> dict[str, object]:
    """Settings with short timeouts (the sandbox's URL is each account's PDS, not a setting)."""
    env: dict[str, object] = {
        "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
        "NETWORK_CONNECT_TIMEOUT_SECONDS": "2",
        "NETWORK_READ_TIMEOUT_SECONDS": "1",
    }
    env.update(extra)
    return env


def app_password_for(handle: str) -> str:
    """An app password's shape (four groups of four), different for every handle."""
    digest = hashlib.sha256(handle.encode()).hexdigest()[:16]
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


def connect_bluesky(
    db: Database[Doc] | None,
    sandbox: BlueskySandbox,
    account_id: str,
) -> Account:
    """The account in the sandbox and (when `db` is given) in MongoDB, app password encrypted.

    No session is stored: the adapter logs in on first use, once."""
    handle = f"{account_id}.bsky.test"
    password = app_password_for(handle)
    did = sandbox.add_account(handle, password)
    ciphertext = TokenCipher((TOKEN_KEY,)).encrypt(password)
    if db is None:
        return Account(account_id, "bluesky", did, handle, ciphertext, service_url=sandbox.url)
    return accounts.create(
        db,
        account_id=account_id,
        platform="bluesky",
        external_id=did,
        name=handle,
        token_ciphertext=ciphertext,
        token_expires_at=None,
        now=utcnow(),
        service_url=sandbox.url,
    )


def schedule(
    db: Database[Doc],
    account_id: str,
    content: Content,
) -> ObjectId:
    due = utcnow() - timedelta(seconds=5)
    return store.create(
        db,
        account_id=account_id,
        platform="bluesky",
        content=content,
        when=ScheduledTime(due, "UTC", due.isoformat()),
        now=utcnow(),
    )
