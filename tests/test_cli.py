"""The `socialsched` command, run as a real process against the real database server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from pymongo.database import Database

from common import lock
from common.clock import utcnow
from common.db import Doc
from devstack.dbserver import free_port
from tests.conftest import add_account, add_post


def socialsched(
    mongo_uri: str, db_name: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONGO_URI"}
    if mongo_uri:
        env.update(MONGO_URI=mongo_uri, MONGO_DB=db_name, MONGO_TIMEOUT_MS="500")
    return subprocess.run(
        [sys.executable, "-m", "common.cli", *args],
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
    assert status["nextScheduledPost"]["platform"] == "facebook"
    assert status["executionLock"]["held"] is False


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
    assert [p["_id"] for p in listed] == [pid]
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
    missing_config = socialsched("", db_name, "status")
    assert missing_config.returncode == 2 and "MONGO_URI is required" in missing_config.stderr
    unreachable = socialsched(f"mongodb://127.0.0.1:{free_port()}/", db_name, "status")
    assert unreachable.returncode == 1 and "database unreachable" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
