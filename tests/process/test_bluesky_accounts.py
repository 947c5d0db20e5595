"""Connecting Bluesky accounts and checking them, through the real `socialsched` process."""

from __future__ import annotations

import json

from pymongo.database import Database

from common import accounts
from common.clock import utcnow
from common.db import Doc
from common.model import Content
from common.tokens import TokenCipher
from devstack.sandbox.control import BlueskySandbox, Sandbox
from tests.bluesky_support import app_password_for, bluesky_env, connect_bluesky, schedule
from tests.meta_support import TOKEN_KEY, connect, meta_env
from tests.process.test_cli import socialsched

HANDLE = "alice.bsky.test"


def connect_cli(
    mongo_uri: str, db_name: str, sandbox: BlueskySandbox, password: str, account_id: str = "sky"
) -> tuple[int, str, str]:
    done = socialsched(
        mongo_uri,
        db_name,
        "--json",
        "accounts",
        "connect",
        "bluesky",
        "--id",
        account_id,
        "--handle",
        HANDLE,
        "--pds",
        sandbox.url,
        stdin=password + "\n",
        env_extra=bluesky_env(sandbox),
    )
    return done.returncode, done.stdout, done.stderr


def test_connecting_logs_in_once_and_stores_only_ciphertext(
    mongo_uri: str, db_name: str, db: Database[Doc], bluesky: BlueskySandbox
) -> None:
    password = app_password_for(HANDLE)
    did = bluesky.add_account(HANDLE, password)

    code, out, err = connect_cli(mongo_uri, db_name, bluesky, password)

    assert code == 0, err
    (row,) = json.loads(out)["accounts"]
    assert (row["id"], row["added"], row["postsReleased"]) == ("sky", True, 0)
    doc = db.accounts.find_one({"_id": "sky"})
    assert doc is not None
    assert (doc["platform"], doc["externalId"], doc["serviceUrl"]) == ("bluesky", did, bluesky.url)
    assert password not in json.dumps(doc, default=str)
    cipher = TokenCipher((TOKEN_KEY,))
    assert cipher.decrypt(doc["token"]) == password
    assert json.loads(cipher.decrypt(doc["session"]))["did"] == did
    assert bluesky.requests()["POST com.atproto.server.createSession"] == 1
    assert password not in out + err


def test_a_main_password_or_a_refused_login_stores_nothing(
    mongo_uri: str, db_name: str, db: Database[Doc], bluesky: BlueskySandbox
) -> None:
    bluesky.add_account(HANDLE, app_password_for(HANDLE))

    code, _, err = connect_cli(mongo_uri, db_name, bluesky, "my main password!")
    assert code == 2 and "app password" in err and "main password" in err
    assert "createSession" not in json.dumps(bluesky.requests())  # refused before any login

    code, _, err = connect_cli(mongo_uri, db_name, bluesky, "aaaa-bbbb-cccc-dddd")
    assert code == 2 and "Invalid identifier or password" in err
    assert db.accounts.count_documents({}) == 0


def test_reconnecting_releases_the_posts_held_for_reauthentication(
    mongo_uri: str, db_name: str, db: Database[Doc], bluesky: BlueskySandbox
) -> None:
    password = app_password_for(HANDLE)
    bluesky.add_account(HANDLE, password)
    assert connect_cli(mongo_uri, db_name, bluesky, password)[0] == 0
    accounts.mark_needs_reauth(db, "sky", utcnow())
    held = schedule(db, "sky", Content(text="held"))
    db.posts.update_one(
        {"_id": held}, {"$set": {"lastError": {"code": "auth_expired", "message": "revoked"}}}
    )

    code, out, err = connect_cli(mongo_uri, db_name, bluesky, password)

    assert code == 0, err
    (row,) = json.loads(out)["accounts"]
    assert (row["id"], row["added"], row["postsReleased"]) == ("sky", False, 1)
    assert accounts.get(db, "sky").status == "active"  # type: ignore[union-attr]


def test_accounts_check_covers_meta_and_bluesky_and_marks_a_revoked_app_password(
    mongo_uri: str,
    db_name: str,
    db: Database[Doc],
    bluesky: BlueskySandbox,
    sandbox: Sandbox,
) -> None:
    connect(db, sandbox, "page")
    connect_bluesky(db, bluesky, "sky-good")
    connect_bluesky(db, bluesky, "sky-bad")
    bluesky.set_faults("sky-bad.bsky.test", invalid_token=True)

    checked = socialsched(
        mongo_uri,
        db_name,
        "--json",
        "accounts",
        "check",
        env_extra={**meta_env(sandbox), **bluesky_env(bluesky)},
    )

    assert checked.returncode == 1
    health = {h["accountId"]: h for h in json.loads(checked.stdout)}
    assert {k: (h["platform"], h["valid"]) for k, h in health.items()} == {
        "page": ("facebook", True),
        "sky-good": ("bluesky", True),
        "sky-bad": ("bluesky", False),
    }
    assert accounts.get(db, "sky-bad").status == "needs_reauth"  # type: ignore[union-attr]
    assert accounts.get(db, "sky-good").status == "active"  # type: ignore[union-attr]
    # The good account's session is now kept, so its next run needs no login.
    assert accounts.get(db, "sky-good").session  # type: ignore[union-attr]


def test_accounts_add_sends_other_networks_to_accounts_connect(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    added = socialsched(
        mongo_uri,
        db_name,
        "accounts",
        "add",
        "--id",
        "sky",
        "--platform",
        "bluesky",
        "--external-id",
        "did:plc:x",
        stdin="abcd-efgh-ijkl-mnop\n",
    )
    assert added.returncode == 2 and "invalid choice: 'bluesky'" in added.stderr
    assert db.accounts.count_documents({}) == 0
