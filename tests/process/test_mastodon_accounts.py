"""Mastodon at the door: connecting an account through `socialsched`, checking it, and the
rules a post must pass when it is scheduled."""

from __future__ import annotations

import json
from datetime import timedelta

from pymongo.database import Database

from common import accounts, media_rules
from common.clock import utcnow
from common.db import Doc
from common.operations.scheduling import Invalid, Planned, PostRequest, plan_post
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


def test_the_instances_own_limits_are_read_at_connect_and_apply_to_its_posts(
    mongo_uri: str, db_name: str, db: Database[Doc], mastodon: MastodonSandbox
) -> None:
    mastodon.configure(
        statuses={"max_characters": 1000, "max_media_attachments": 6},
        media_attachments={"description_limit": 3000, "image_size_limit": 2_000_000},
    )
    token = mastodon_token_for("alice")
    mastodon.add_account("alice", token)
    code, _, err = connect_cli(mongo_uri, db_name, mastodon, token)
    assert code == 0, err
    account = accounts.get(db, "masto")
    assert account is not None and account.instance_limits is not None
    limits = account.instance_limits
    assert (limits.max_characters, limits.max_media_attachments, limits.description_limit) == (
        1000,
        6,
        3000,
    )
    pictures = [{"url": f"https://cdn.example.test/{i}.jpg", "alt": "a" * 2000} for i in range(6)]

    def problems(text: str, media: list[dict[str, str]]) -> list[str]:
        request = PostRequest("masto", WHEN, text=text, media=media)
        planned = plan_post(request, account, utcnow(), timedelta(days=1))
        assert isinstance(planned, Planned | Invalid)
        return [] if isinstance(planned, Planned) else [p.message for p in planned.problems]

    assert problems("x" * 1000, pictures) == []  # the defaults would refuse all three
    assert problems("x" * 1001, [*pictures, pictures[0]]) == [
        "the text with the link and the content warning has 1,001 characters, "
        "Mastodon allows 1,000 on this instance",
        "at most 6 media in one post on this instance",
    ]
    photo = media_rules.MediaFacts("image/jpeg", 3_000_000, 1000, 1000)
    refused = media_rules.check_item(media_rules.limits_for("mastodon", limits), photo)
    assert [p.rule for p in refused] == ["size"]


def test_a_check_reads_the_instance_limits_again_only_once_they_are_a_day_old(
    mongo_uri: str, db_name: str, db: Database[Doc], mastodon: MastodonSandbox
) -> None:
    connect_mastodon(db, mastodon, "masto")
    check = ("--json", "accounts", "check")

    assert socialsched(mongo_uri, db_name, *check, env_extra=mastodon_env()).returncode == 0
    assert mastodon.requests().get("GET v2/instance") == 1  # never read: read now
    mastodon.configure(statuses={"max_characters": 5000})
    assert socialsched(mongo_uri, db_name, *check, env_extra=mastodon_env()).returncode == 0
    assert mastodon.requests().get("GET v2/instance") == 1  # fresh: not read again
    day_old = utcnow() - media_rules.INSTANCE_LIMITS_MAX_AGE
    db.accounts.update_one({"_id": "masto"}, {"$set": {"instanceLimits.readAt": day_old}})
    assert socialsched(mongo_uri, db_name, *check, env_extra=mastodon_env()).returncode == 0
    assert mastodon.requests().get("GET v2/instance") == 2
    account = accounts.get(db, "masto")
    assert account is not None and account.instance_limits is not None
    assert account.instance_limits.max_characters == 5000


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
