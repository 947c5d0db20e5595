"""A token that TOKEN_ENCRYPTION_KEY cannot open is the deployment's problem, not the account's:
its posts wait without spending attempts, the account is neither paused nor marked, and the
post records the real cause (not a rate limit)."""

from __future__ import annotations

from datetime import timedelta

from pymongo.database import Database

from common import accounts
from common.clock import utcnow
from common.config import Settings
from common.db import Doc
from common.engine import Trigger, execute_once
from common.platforms.base import Registry
from common.platforms.meta.facebook import FacebookPublisher
from common.platforms.meta.graph import GraphClient
from common.tokens import TokenCipher
from tests.conftest import SettingsFactory, add_account, add_post
from tests.meta_support import TOKEN_KEY

MINUTE = timedelta(minutes=1)


def test_an_undecryptable_token_defers_its_post_without_pausing_or_mislabelling_the_account(
    db: Database[Doc], make_settings: SettingsFactory
) -> None:
    # Nothing listens on port 9: the adapter must stop before any request.
    settings: Settings = make_settings(
        TOKEN_ENCRYPTION_KEY=TOKEN_KEY, META_GRAPH_URL="http://127.0.0.1:9"
    )
    add_account(db, "a")  # its stored token is not ciphertext under TOKEN_KEY
    first = add_post(db, "a", utcnow() - 2 * MINUTE)
    second = add_post(db, "a", utcnow() - MINUTE)
    client = GraphClient(settings)
    publisher = FacebookPublisher(client, TokenCipher.from_settings(settings))
    try:
        summary = execute_once(settings, Trigger("cli"), Registry([publisher]), db=db)
    finally:
        client.close()
    stored = {doc["_id"]: doc for doc in db["posts"].find()}
    for pid in (first, second):
        doc = stored[pid]
        assert (doc["status"], doc["attempts"]) == ("scheduled", 0)
        assert doc["lastError"]["code"] == "token_key_error"
        assert doc["dueAt"] > utcnow()
    account = accounts.get(db, "a")
    assert account is not None
    assert (account.status, account.paused_until) == ("active", None)
    assert (summary.counts.published, summary.counts.deferred) == (0, 2)
