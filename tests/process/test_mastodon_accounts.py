"""Mastodon at the door: connecting an account through `socialsched`, checking it, and the
rules a post must pass when it is scheduled."""

from __future__ import annotations

import json

from pymongo.database import Database

from common import accounts
from common.db import Doc
from common.tokens import TokenCipher
from common.validation import check_post
from devstack.sandbox.control import MastodonSandbox
from tests.conftest import add_account
from tests.mastodon_support import connect_mastodon, mastodon_env, mastodon_token_for
from tests.meta_support import TOKEN_KEY
from tests.process.test_cli import socialsched

WHEN = "2030-01-01T10:00:00Z"


def connect_cli(
    mongo_uri: str, db_name: str, sandbox: MastodonSandbox, token: str
) -> tuple[int, str, str]:
    done = socialsched(
        mongo_uri,
        db_name,
        "--json",
        "accounts",
        "connect",
        "mastodon",
        "--id",
        "masto",
        "--instance",
        sandbox.url,
        stdin=token + "\n",
        env_extra=mastodon_env(),
    )
    return done.returncode, done.stdout, done.stderr


def test_connecting_checks_the_token_and_stores_only_ciphertext(
    mongo_uri: str, db_name: str, db: Database[Doc], mastodon: MastodonSandbox
) -> None:
    token = mastodon_token_for("alice")
    remote_id = mastodon.add_account("alice", token)

    code, out, err = connect_cli(mongo_uri, db_name, mastodon, token)

    assert code == 0, err
    (row,) = json.loads(out)["accounts"]
    assert (row["id"], row["added"], row["postsReleased"]) == ("masto", True, 0)
    doc = db.accounts.find_one({"_id": "masto"})
    assert doc is not None
    assert (doc["platform"], doc["externalId"], doc["serviceUrl"], doc["name"]) == (
        "mastodon",
        remote_id,
        mastodon.url,
        "alice",
    )
    assert token not in json.dumps(doc, default=str) + out + err
    assert TokenCipher((TOKEN_KEY,)).decrypt(doc["token"]) == token


def test_a_refused_token_stores_nothing(
    mongo_uri: str, db_name: str, db: Database[Doc], mastodon: MastodonSandbox
) -> None:
    code, _, err = connect_cli(mongo_uri, db_name, mastodon, "not-a-token")
    assert code == 2 and "The access token is invalid" in err
    assert db.accounts.count_documents({}) == 0


def test_an_account_id_another_identity_holds_refuses_the_login_and_keeps_that_account(
    mongo_uri: str, db_name: str, db: Database[Doc], mastodon: MastodonSandbox
) -> None:
    add_account(db, "masto")  # a Facebook Page under the id the login asks for
    token = mastodon_token_for("alice")
    mastodon.add_account("alice", token)

    code, _, err = connect_cli(mongo_uri, db_name, mastodon, token)

    assert code == 2 and "account masto exists for another identity" in err
    kept = accounts.get(db, "masto")
    assert kept is not None and (kept.platform, kept.token) == ("facebook", "not-a-real-token")


def test_accounts_check_marks_a_revoked_mastodon_token(
    mongo_uri: str, db_name: str, db: Database[Doc], mastodon: MastodonSandbox
) -> None:
    connect_mastodon(db, mastodon, "masto-good")
    connect_mastodon(db, mastodon, "masto-bad")
    mastodon.set_faults("masto-bad", invalid_token=True)

    checked = socialsched(
        mongo_uri, db_name, "--json", "accounts", "check", env_extra=mastodon_env()
    )

    assert checked.returncode == 1
    health = {h["accountId"]: h["valid"] for h in json.loads(checked.stdout)}
    assert health == {"masto-good": True, "masto-bad": False}
    assert accounts.get(db, "masto-bad").status == "needs_reauth"  # type: ignore[union-attr]


def test_mastodon_counts_500_characters_with_the_link_and_the_warning() -> None:
    assert check_post("mastodon", text="a" * 500, scheduled_at=WHEN).ok
    link = "https://example.com/x"
    (problem,) = check_post(
        "mastodon", text="a" * (500 - len(link)), link=link, scheduled_at=WHEN
    ).problems
    assert problem.field == "text"
    too_many = [{"url": "https://img.example/a.jpg"}] * 5
    fields = [p.field for p in check_post("mastodon", media=too_many, scheduled_at=WHEN).problems]
    assert fields == ["media"]


def test_visibility_and_content_warnings_are_mastodons_only() -> None:
    ok = check_post(
        "mastodon", text="x", content_warning="cw", visibility="unlisted", scheduled_at=WHEN
    )
    assert ok.ok and (ok.content.content_warning, ok.content.visibility) == ("cw", "unlisted")
    wrong = check_post("mastodon", text="x", visibility="friends", scheduled_at=WHEN)
    assert [p.field for p in wrong.problems] == ["visibility"]
    elsewhere = check_post("bluesky", text="x", content_warning="cw", scheduled_at=WHEN)
    assert [p.field for p in elsewhere.problems] == ["contentWarning"]
