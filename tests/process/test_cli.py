"""The `socialsched` command, run as a real process against the real database server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from common import accounts, lock
from common.clock import utcnow
from common.db import Doc
from common.operations import creating, csv_import
from common.operations.admission import Admission
from common.tokens import TokenCipher
from devstack.processes import free_port
from devstack.sandbox.control import BlueskySandbox, Sandbox
from tests.conftest import add_account, add_post
from tests.meta_support import TOKEN_KEY, connect, meta_env, token_for

LATENESS = timedelta(days=1)  # MAX_LATENESS_SECONDS by default


def socialsched(
    mongo_uri: str,
    db_name: str,
    *args: str,
    stdin: str = "",
    env_extra: Mapping[str, object] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONGO_URI"}
    if mongo_uri:
        # Room for a loaded machine; the unreachable-database test asks for a short wait itself.
        env.update(MONGO_URI=mongo_uri, MONGO_DB=db_name, MONGO_TIMEOUT_MS="5000")
        env.update(PRIVATE_ADDRESSES_ALLOWED="on")  # the sandboxes serve test media on loopback
    env.update({k: str(v) for k, v in (env_extra or {}).items()})
    return subprocess.run(
        [sys.executable, "-m", "common.entrypoints.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_on_an_empty_queue_reports_nothing_to_do(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    done = socialsched(mongo_uri, db_name, "--json", "run")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["skipped"], result["postsProcessed"]) == (False, 0)
    assert lock.read_state(db)["totalExecutions"] == 1


def test_status_shows_queue_counts_and_next_post(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    add_account(db, "a")
    add_post(db, "a", utcnow() + timedelta(hours=1))
    socialsched(mongo_uri, db_name, "run")
    status = json.loads(socialsched(mongo_uri, db_name, "--json", "status").stdout)
    assert status["queue"]["scheduled"] == 1
    assert status["scheduler"]["nextScheduledPost"]["platform"] == "facebook"
    assert status["scheduler"]["executionLock"]["held"] is False
    assert status["scheduler"]["totalExecutions"] == 1
    readable = socialsched(mongo_uri, db_name, "status").stdout
    assert "no platform connected" not in readable and "1 scheduled" in readable


def test_status_on_the_database_names_the_accounts_to_reauthenticate(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    for name, platform in (("fb-ok", "facebook"), ("fb-old", "facebook"), ("ig-old", "instagram")):
        add_account(db, name, platform)
    db["accounts"].update_many(
        {"_id": {"$in": ["fb-old", "ig-old"]}}, {"$set": {"status": "needs_reauth"}}
    )
    status = json.loads(socialsched(mongo_uri, db_name, "--json", "status").stdout)
    assert status["platforms"]["facebook"] == {
        "connected": 1,
        "needsReauth": 1,
        "reauthAccounts": ["fb-old"],
    }
    assert status["platforms"]["instagram"]["reauthAccounts"] == ["ig-old"]
    readable = socialsched(mongo_uri, db_name, "status").stdout
    assert "2 accounts need re-authentication (facebook: fb-old; instagram: ig-old)" in readable


def test_posts_list_shows_a_held_post_at_its_scheduled_time_and_until_when_it_is_held(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    add_account(db, "a")
    scheduled = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    held = add_post(db, "a", scheduled)
    later = add_post(db, "a", scheduled + timedelta(hours=1))
    db["posts"].update_one(
        {"_id": held},
        {
            "$set": {
                "dueAt": scheduled + timedelta(minutes=30),
                "lastError": {
                    "code": "auth_expired",
                    "message": "the token expired",
                    "at": scheduled,
                },
            }
        },
    )
    shown = socialsched(mongo_uri, db_name, "posts", "list")
    assert shown.returncode == 0, shown.stderr
    listed = shown.stdout.splitlines()
    assert listed[0].split()[-1] == "scheduled"
    assert listed[1].startswith(str(held)) and listed[1].endswith(
        "2030-01-01T09:00:00Z  held until 2030-01-01T09:30:00Z  auth_expired: the token expired"
    )
    assert listed[2].startswith(str(later)) and listed[2].endswith("2030-01-01T10:00:00Z")
    assert len(listed) == 3


def test_lock_release_refuses_a_live_lock_without_force(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    lock.acquire(db, "stuck-run", utcnow(), timedelta(minutes=5))
    shown = json.loads(socialsched(mongo_uri, db_name, "--json", "lock", "show").stdout)
    assert (shown["held"], shown["holder"], shown["expired"]) == (True, "stuck-run", False)
    refused = socialsched(mongo_uri, db_name, "lock", "release", "--yes")
    assert refused.returncode == 1 and "not expired" in refused.stderr
    unconfirmed = socialsched(mongo_uri, db_name, "lock", "release", "--force")
    assert unconfirmed.returncode == 2 and "not confirmed" in unconfirmed.stderr
    forced = socialsched(mongo_uri, db_name, "lock", "release", "--force", "--yes")
    assert forced.returncode == 0
    assert "lock" not in lock.read_state(db)


def test_posts_list_show_cancel_and_retry(mongo_uri: str, db_name: str, db: Database[Doc]) -> None:
    add_account(db, "a")
    pid = str(add_post(db, "a", utcnow() + timedelta(hours=1)))
    listed = json.loads(
        socialsched(mongo_uri, db_name, "--json", "posts", "list", "--status", "scheduled").stdout
    )
    assert [p["id"] for p in listed["posts"]] == [pid] and listed["next"] is None
    shown = json.loads(socialsched(mongo_uri, db_name, "--json", "posts", "show", pid).stdout)
    assert shown["status"] == "scheduled" and "lease" not in shown
    assert socialsched(mongo_uri, db_name, "posts", "retry", pid).returncode == 1  # not failed
    assert socialsched(mongo_uri, db_name, "posts", "cancel", pid).returncode == 0
    assert socialsched(mongo_uri, db_name, "posts", "cancel", pid).returncode == 1  # already
    db["posts"].update_one({"_id": db["posts"].find_one()["_id"]}, {"$set": {"status": "failed"}})  # type: ignore[index]
    assert socialsched(mongo_uri, db_name, "posts", "retry", pid).returncode == 0
    assert db["posts"].find_one()["status"] == "scheduled"  # type: ignore[index]


def test_usage_errors_exit_2_and_operational_failures_exit_1(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    assert socialsched(mongo_uri, db_name, "posts", "show", "not-an-id").returncode == 2
    assert socialsched(mongo_uri, db_name, "posts", "frobnicate").returncode == 2
    assert socialsched(mongo_uri, db_name, "run", "--limit", "0").returncode == 2
    missing_config = socialsched("", db_name, "status")
    assert missing_config.returncode == 2 and "MONGO_URI is required" in missing_config.stderr
    unreachable = socialsched(
        f"mongodb://127.0.0.1:{free_port()}/",
        db_name,
        "status",
        env_extra={"MONGO_TIMEOUT_MS": 500},
    )
    assert unreachable.returncode == 1 and "database unreachable" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_accounts_add_reads_the_token_from_stdin_and_stores_only_ciphertext(
    mongo_uri: str, db_name: str, db: Database[Doc], sandbox: Sandbox
) -> None:
    env = meta_env(sandbox)
    added = socialsched(
        mongo_uri,
        db_name,
        "accounts",
        "add",
        "--id",
        "page-1",
        "--platform",
        "facebook",
        "--external-id",
        "p1",
        "--name",
        "My Page",
        stdin=token_for("p1") + "\n",
        env_extra=env,
    )
    assert added.returncode == 0, added.stderr
    stored = db["accounts"].find_one({"_id": "page-1"})
    assert stored is not None and token_for("p1") not in str(stored)
    assert TokenCipher((TOKEN_KEY,)).decrypt(stored["token"]) == token_for("p1")
    # Re-authenticating an account whose token Meta rejected releases its held posts.
    db["accounts"].update_one({"_id": "page-1"}, {"$set": {"status": "needs_reauth"}})
    held = add_post(db, "page-1", utcnow() - timedelta(minutes=1))
    db["posts"].update_one(
        {"_id": held},
        {
            "$set": {
                "dueAt": utcnow() + timedelta(minutes=15),
                "lastError": {"code": "auth_expired"},
            }
        },
    )
    again = socialsched(
        mongo_uri,
        db_name,
        "--json",
        "accounts",
        "add",
        "--id",
        "page-1",
        stdin="EAAB-new-token\n",
        env_extra=env,
    )
    assert json.loads(again.stdout) == {"id": "page-1", "reauthenticated": True, "postsReleased": 1}
    assert accounts.get(db, "page-1").status == "active"  # type: ignore[union-attr]
    assert db["posts"].find_one({"_id": held})["dueAt"] <= utcnow()  # type: ignore[index]
    listed = socialsched(mongo_uri, db_name, "--json", "accounts", "list", env_extra=env)
    assert json.loads(listed.stdout)[0]["name"] == "My Page"
    assert token_for("p1") not in listed.stdout and "token" not in json.loads(listed.stdout)[0]


def test_accounts_add_without_a_key_or_token_is_a_usage_error(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    add = ("accounts", "add", "--id", "x", "--platform", "facebook", "--external-id", "1")
    no_key = socialsched(mongo_uri, db_name, *add, stdin="tok\n")
    assert no_key.returncode == 2 and "TOKEN_ENCRYPTION_KEY" in no_key.stderr
    no_token = socialsched(
        mongo_uri, db_name, *add, stdin="", env_extra={"TOKEN_ENCRYPTION_KEY": TOKEN_KEY}
    )
    assert no_token.returncode == 2 and "no token" in no_token.stderr


def test_accounts_check_marks_an_invalid_token_for_reauthentication(
    mongo_uri: str, db_name: str, db: Database[Doc], sandbox: Sandbox
) -> None:
    connect(db, sandbox, "good")
    connect(db, sandbox, "bad")
    sandbox.set_faults("bad", invalid_token=True)
    checked = socialsched(
        mongo_uri, db_name, "--json", "accounts", "check", env_extra=meta_env(sandbox)
    )
    assert checked.returncode == 1
    health = {h["accountId"]: h for h in json.loads(checked.stdout)}
    assert health["good"]["valid"] is True and health["good"]["expiresAt"] is None
    assert health["bad"]["valid"] is False
    assert accounts.get(db, "bad").status == "needs_reauth"  # type: ignore[union-attr]
    assert accounts.get(db, "good").status == "active"  # type: ignore[union-attr]
    assert token_for("bad") not in checked.stdout + checked.stderr


def test_a_draft_is_submitted_sent_back_and_approved_from_the_cli(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    add_account(db, "a")
    at = (utcnow() + timedelta(hours=1)).isoformat()
    args = ("--account", "a", "--at", at, "--text", "planned", "--stage", "draft")
    made = socialsched(mongo_uri, db_name, "--json", "posts", "add", *args)
    pid = json.loads(made.stdout)["id"]

    def status() -> str:
        return str(db["posts"].find_one()["status"])  # type: ignore[index]

    assert socialsched(mongo_uri, db_name, "posts", "approve", pid).returncode == 1  # a draft
    assert socialsched(mongo_uri, db_name, "posts", "submit", pid).returncode == 0
    assert status() == "pending_approval"
    back = socialsched(mongo_uri, db_name, "posts", "send-back", pid, "--comment", "typo")
    assert back.returncode == 0 and status() == "draft"
    assert socialsched(mongo_uri, db_name, "posts", "submit", pid).returncode == 0
    approved = socialsched(mongo_uri, db_name, "posts", "approve", pid)
    assert (approved.returncode, approved.stdout.strip()) == (0, f"post {pid} scheduled")


def test_posts_add_validates_and_schedules_in_the_operators_zone(
    mongo_uri: str, db_name: str, db: Database[Doc], sandbox: Sandbox
) -> None:
    add_account(db, "ig", platform="instagram")
    refused = socialsched(
        mongo_uri,
        db_name,
        "posts",
        "add",
        "--account",
        "ig",
        "--at",
        "2027-03-28T02:30",
        "--tz",
        "Europe/Berlin",
        "--text",
        "no media",
        "--media",
        "http://insecure.example/a.jpg",
    )
    assert refused.returncode == 2
    assert "does not exist" in refused.stderr and "https" in refused.stderr
    added = socialsched(
        mongo_uri,
        db_name,
        "--json",
        "posts",
        "add",
        "--account",
        "ig",
        "--at",
        "2027-03-28T09:00",
        "--tz",
        "Europe/Berlin",
        "--text",
        "hi",
        "--media",
        sandbox.image_url("a.jpg"),
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["scheduledAt"] == "2027-03-28T07:00:00Z"
    gone = f"{sandbox.url}/_sandbox/nothing/a.jpg"
    args = ("--account", "ig", "--at", "2027-03-28T10:00", "--tz", "Europe/Berlin")
    unreachable = socialsched(mongo_uri, db_name, "posts", "add", *args, "--media", gone)
    assert unreachable.returncode == 2
    assert "media[0].url" in unreachable.stderr and "HTTP 404" in unreachable.stderr
    assert db["posts"].count_documents({"status": "scheduled"}) == 1


def test_import_inserts_all_rows_or_none_and_names_every_bad_line(
    mongo_uri: str, db_name: str, db: Database[Doc], tmp_path: Path
) -> None:
    add_account(db, "fb")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "account,at,tz,text\n"
        "fb,2030-01-01T10:00,Europe/Berlin,fine\n"
        "nobody,2030-01-01T10:00,Europe/Berlin,who\n"
        "fb,not-a-time,,when\n"
    )
    refused = socialsched(mongo_uri, db_name, "import", str(bad))
    assert refused.returncode == 2
    assert "line 3: account" in refused.stderr and "line 4: at:" in refused.stderr
    assert db["posts"].count_documents({}) == 0
    good = tmp_path / "good.csv"
    rows = "".join(f"fb,2030-01-01T10:{i:02d}:00+00:00,,post {i}\n" for i in range(60))
    good.write_text("account,at,tz,text\n" + rows)
    done = socialsched(mongo_uri, db_name, "--json", "import", str(good))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["imported"], report["alreadyScheduled"], report["warnings"]) == (60, [], [])
    assert [c["line"] for c in report["created"]] == list(range(2, 62))
    assert db["posts"].count_documents({"status": "scheduled"}) == 60
    again = socialsched(mongo_uri, db_name, "import", str(good))
    assert again.returncode == 0, again.stderr
    assert "imported 0 posts" in again.stdout and "60 rows already scheduled" in again.stdout
    assert db["posts"].count_documents({}) == 60


def test_an_unreadable_import_file_is_a_usage_error(
    mongo_uri: str, db_name: str, db: Database[Doc], tmp_path: Path
) -> None:
    add_account(db, "fb")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("account,at,text\nfb,2030-01-01T10:00:00Z,caf\xe9\n".encode("latin-1"))
    far = tmp_path / "far.csv"
    far.write_text("account,at,text\nfb,9999-12-31T23:59:59-01:00,later\n")
    not_utf8 = socialsched(mongo_uri, db_name, "import", str(latin1))
    assert not_utf8.returncode == 2 and "not UTF-8" in not_utf8.stderr
    out_of_range = socialsched(mongo_uri, db_name, "import", str(far))
    assert out_of_range.returncode == 2 and "line 2: at:" in out_of_range.stderr
    for done in (not_utf8, out_of_range):
        assert "Traceback" not in done.stderr
    assert db["posts"].count_documents({}) == 0


def test_a_failed_import_leaves_nothing_behind(db: Database[Doc]) -> None:
    add_account(db, "fb")
    n = creating.IMPORT_CHUNK + 10
    rows = (
        "".join(f"fb,2030-01-01T10:00:00Z,post {i}\n" for i in range(n))
        + "fb,2030-01-01T10:01:00Z,post 0\n"
    )
    # A unique index makes the last row fail, after the whole first chunk went in.
    db["posts"].create_index("content.text", unique=True)
    with pytest.raises(BulkWriteError):
        csv_import.import_csv(
            db, io.StringIO("account,at,text\n" + rows), utcnow(), Admission(LATENESS)
        )
    assert db["posts"].count_documents({}) == 0


def test_an_unknown_account_is_answered_with_the_near_names(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    for account_id in ("shop-instagram", "shop-facebook", "blog-bluesky"):
        add_account(db, account_id)
    at = (utcnow() + timedelta(hours=1)).isoformat()
    near = socialsched(mongo_uri, db_name, "posts", "add", "--account", "shop-instagam", "--at", at)
    assert near.returncode == 2
    assert near.stderr.strip() == (
        "socialsched: no account 'shop-instagam'; did you mean 'shop-instagram'?"
    )
    far = socialsched(mongo_uri, db_name, "posts", "add", "--account", "zzz", "--at", at)
    assert far.returncode == 2 and "`socialsched accounts list` shows them" in far.stderr


def test_accounts_list_keeps_its_columns_aligned_for_long_ids(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    add_account(db, "a")
    add_account(db, "an-account-id-much-longer-than-twenty", platform="bluesky")
    listed = socialsched(mongo_uri, db_name, "accounts", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 3
    for column in ("platform", "status", "external id", "name"):
        start = lines[0].index(column)
        assert all(line[start - 2 : start] == "  " and line[start] != " " for line in lines)


def test_a_refused_bluesky_login_prints_one_line_and_no_stray_log_record(
    mongo_uri: str, db_name: str, bluesky: BlueskySandbox
) -> None:
    bluesky.add_account("alice.bsky.test", "abcd-efgh-ijkl-mnop")
    args = ("accounts", "connect", "bluesky", "--id", "sky", "--handle", "alice.bsky.test")
    env = {"TOKEN_ENCRYPTION_KEY": TOKEN_KEY}
    refused = socialsched(
        mongo_uri,
        db_name,
        *args,
        "--pds",
        bluesky.url,
        stdin="wxyz-wxyz-wxyz-wxyz\n",
        env_extra=env,
    )
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith("socialsched: ") and "xrpc" not in refused.stderr
    verbose = socialsched(
        mongo_uri,
        db_name,
        "--verbose",
        *args,
        "--pds",
        bluesky.url,
        stdin="wxyz-wxyz-wxyz-wxyz\n",
        env_extra=env,
    )
    assert '"message":"xrpc error"' in verbose.stderr


def test_a_series_is_added_listed_edited_from_an_occurrence_on_and_ended_from_the_cli(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    add_account(db, "a")
    first = (utcnow() + timedelta(days=2)).date()
    start = f"{first.isoformat()}T09:00:00"
    args = ("--account", "a", "--tz", "Europe/Berlin", "--text", "weekly")
    bad = socialsched(mongo_uri, db_name, "series", "add", *args, "--start", start, "--rule", "x")
    assert bad.returncode == 2 and "rule" in bad.stderr
    rule = ("--start", start, "--rule", "FREQ=WEEKLY;COUNT=4")
    made = socialsched(mongo_uri, db_name, "--json", "series", "add", *args, *rule)
    assert made.returncode == 0, made.stderr
    sid = json.loads(made.stdout)["id"]
    assert db["posts"].count_documents({"groupId": f"series:{sid}"}) == 4
    listed = socialsched(mongo_uri, db_name, "series", "list")
    assert listed.stdout.startswith(sid) and "live" in listed.stdout

    since = f"{(first + timedelta(days=14)).isoformat()}T09:00:00"
    edit = ("series", "edit", sid, "--since", since, "--text", "changed")
    edited = socialsched(mongo_uri, db_name, *edit)
    assert edited.returncode == 0 and f"from {since} on" in edited.stdout
    assert socialsched(mongo_uri, db_name, "run").returncode == 0  # finishes the split
    assert socialsched(mongo_uri, db_name, "run").returncode == 0  # the successor's batch
    texts = sorted(d["content"]["text"] for d in db["posts"].find({"status": "scheduled"}))
    assert texts == ["changed", "changed", "weekly", "weekly"]

    ended = socialsched(mongo_uri, db_name, "series", "end", sid)
    assert ended.stdout.strip() == f"series {sid} ended; 4 unsent occurrences canceled"
    assert socialsched(mongo_uri, db_name, "series", "show", "nothing").returncode == 1


def test_posts_add_with_thread_parts_and_a_comment_then_show_lists_them(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    add_account(db, "masto", platform="mastodon")
    at = ("--at", "2030-01-01T09:00Z")
    added = socialsched(
        mongo_uri,
        db_name,
        "--json",
        "posts",
        "add",
        "--account",
        "masto",
        *at,
        "--text",
        "1/3",
        "--thread-part",
        "2/3",
        "--thread-part",
        "3/3",
        "--comment",
        "sources",
    )
    assert added.returncode == 0, added.stderr
    pid = json.loads(added.stdout)["id"]
    shown = socialsched(mongo_uri, db_name, "--json", "posts", "show", pid)
    assert shown.returncode == 0, shown.stderr
    follow_ups = json.loads(shown.stdout)["followUps"]
    assert [(f["kind"], f["part"], f["status"]) for f in follow_ups] == [
        ("thread", 1, "waiting"),
        ("thread", 2, "waiting"),
        ("comment", 1, "waiting"),
    ]
