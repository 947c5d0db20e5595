"""Helpers for tests that publish through the real Mastodon adapter to the sandbox instance."""

from __future__ import annotations

from pymongo.database import Database

from common import accounts
from common.clock import utcnow
from common.db import Doc
from common.model import Account
from common.tokens import TokenCipher
from devstack.sandbox.control import MastodonSandbox
from tests.meta_support import TOKEN_KEY


def mastodon_env(**extra: object) -> dict[str, object]:
    """Settings with short timeouts (the instance URL is each account's, not a setting)."""
    env: dict[str, object] = {
        "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
        "NETWORK_CONNECT_TIMEOUT_SECONDS": "2",
        "NETWORK_READ_TIMEOUT_SECONDS": "1",
    }
    env.update(extra)
    return env


def mastodon_token_for(username: str) -> str:
    return f"masto-secret-token-{username}"


def connect_mastodon(
    db: Database[Doc] | None, sandbox: MastodonSandbox, account_id: str
) -> Account:
    """The account in the sandbox and (when `db` is given) in MongoDB, token encrypted."""
    token = mastodon_token_for(account_id)
    remote_id = sandbox.add_account(account_id, token)
    ciphertext = TokenCipher((TOKEN_KEY,)).encrypt(token)
    if db is None:
        return Account(
            account_id, "mastodon", remote_id, account_id, ciphertext, service_url=sandbox.url
        )
    return accounts.create(
        db,
        account_id=account_id,
        platform="mastodon",
        external_id=remote_id,
        name=account_id,
        token_ciphertext=ciphertext,
        token_expires_at=None,
        now=utcnow(),
        service_url=sandbox.url,
    )
