"""The CLI in remote mode, end to end: a real api function process (and the status function),
the real `socialsched` process holding only SOCIALSCHED_API_URL, SOCIALSCHED_API_KEY and
SOCIALSCHED_STATUS_URL (no database URI, no token key), and the networks' sandboxes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common import accounts, apikeys, lock
from common.clock import utcnow
from devstack import cloudtasks
from devstack.processes import free_port
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox
from devstack.storage import LocalStorage
from tests.bluesky_support import app_password_for
from tests.conftest import add_account, add_post
from tests.functions_fixtures import (
    RECORDING_SOURCE,
    ROOT,
    STATUS_SOURCE,
    InvokerCheck,
    Served,
    function_env,
    id_token,
    serve,
    serve_fronted,
)
from tests.mastodon_support import mastodon_token_for
from tests.meta_support import meta_env

API_SOURCE = ROOT / "functions" / "api" / "main.py"
RUN_INVOKER = "ops@example.test"
RUN_AUDIENCE = "https://run-http.example.test/"
# What the laptop must not hold in remote mode.
_DATABASE_AND_KEYS = ("MONGO_URI", "MONGO_DB", "TOKEN_ENCRYPTION_KEY", "META_APP_SECRET")


@pytest.fixture(scope="module")
def api_fn(
    mongo_uri: str,
    fn_db_name: str,
    fn_workdir: Path,
    sandbox_server: Sandbox,
    storage_server: LocalStorage,
) -> Iterator[Served]:
    meta = {k: str(v) for k, v in meta_env(sandbox_server).items()}
    env = function_env(
        mongo_uri,
        fn_db_name,
        META_APP_ID="sandbox-app",
        META_APP_SECRET="s3cret",
        **meta,
        **storage_server.settings(),
    )
    with serve("api", API_SOURCE, env, fn_workdir) as served:
        yield served


@pytest.fixture(scope="module")
def status_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[Served]:
    with serve("status", STATUS_SOURCE, function_env(mongo_uri, fn_db_name), fn_workdir) as s:
        yield s


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    """The signer of Google's ID tokens, as far as the Cloud Run front knows."""
    with cloudtasks.running() as url:
        yield url


@pytest.fixture(scope="module")
def run_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path, standin: str) -> Iterator[Served]:
    """run_http (its publishers recording the sends) behind Cloud Run's invoker check, with
    roles/run.invoker for RUN_INVOKER only (run_http_invokers)."""
    check = InvokerCheck(standin, RUN_INVOKER, RUN_AUDIENCE)
    env = function_env(mongo_uri, fn_db_name)
    port = free_port()
    with serve_fronted("run_http", RECORDING_SOURCE, env, fn_workdir, port, check) as served:
        yield served


def remote(
    api: Served,
    key: str,
    *args: str,
    stdin: str = "",
    status: Served | None = None,
    more: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`more`: other settings of the laptop (SOCIALSCHED_RUN_URL, SOCIALSCHED_RUN_ID_TOKEN)."""
    env = {k: v for k, v in os.environ.items() if k not in _DATABASE_AND_KEYS}
    env.update(SOCIALSCHED_API_URL=api.url, SOCIALSCHED_API_KEY=key, **(more or {}))
    if status is not None:
        env.update(SOCIALSCHED_STATUS_URL=status.url)
    return subprocess.run(
        [sys.executable, "-m", "common.entrypoints.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def direct(
    mongo_uri: str, db_name: str, *args: str, settings: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _DATABASE_AND_KEYS}
    env.update(MONGO_URI=mongo_uri, MONGO_DB=db_name, **(settings or {}))
    return subprocess.run(
        [sys.executable, "-m", "common.entrypoints.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_operator_runs_the_scheduler_through_the_api_without_database_keys(
    api_fn: Served,
    fresh_db: Database[Any],
    sandbox: Sandbox,
    mongo_uri: str,
    fn_db_name: str,
    tmp_path: Path,
) -> None:
    key = apikeys.create(fresh_db, "laptop", ["admin"], utcnow()).secret
    sandbox.add_account("111", "page", "page-token-111", "Bakery")
    sandbox.add_user("short-login-token", ["111"])

    connected = remote(api_fn, key, "accounts", "connect", stdin="short-login-token\n")
    assert connected.returncode == 0, connected.stderr
    assert "fb-111" in connected.stdout and "added" in connected.stdout

    add = ("posts", "add", "--account", "fb-111", "--at", "2030-01-01T10:00Z", "--text", "hi")
    made = json.loads(remote(api_fn, key, *add, "--json").stdout)
    assert (made["alreadyScheduled"], made["scheduledAt"]) == (False, "2030-01-01T10:00:00Z")
    repeat = remote(api_fn, key, *add)
    assert repeat.returncode == 0 and f"already scheduled: post {made['id']}" in repeat.stdout
    past = remote(api_fn, key, "posts", "add", "--account", "fb-111", "--at", "2020-01-01T10:00Z")
    assert past.returncode == 2 and "in the past" in past.stderr

    edited = remote(api_fn, key, "posts", "edit", made["id"], "--text", "hello", "--json")
    assert edited.returncode == 0, edited.stderr
    assert json.loads(edited.stdout)["content"]["text"] == "hello"
    stale = remote(api_fn, key, "posts", "edit", made["id"], "--version", "1", "--text", "x")
    assert stale.returncode == 1 and "changed since" in stale.stderr

    csv_file = tmp_path / "posts.csv"
    rows = "".join(f"fb-111,2030-02-01T10:{i:02d}:00Z,post {i}\n" for i in range(3))
    csv_file.write_text("account,at,text\n" + rows)
    first = json.loads(remote(api_fn, key, "import", str(csv_file), "--json").stdout)
    assert (first["imported"], first["alreadyScheduled"]) == (3, [])
    again = remote(api_fn, key, "import", str(csv_file))
    assert "imported 0 posts" in again.stdout and "3 rows already scheduled" in again.stdout

    for command in (
        ("posts", "list", "--limit", "2"),
        ("accounts", "list"),
        ("posts", "show", made["id"]),
    ):
        through_api = remote(api_fn, key, *command, "--json")
        on_database = direct(mongo_uri, fn_db_name, *command, "--json")
        assert through_api.returncode == on_database.returncode == 0, through_api.stderr
        assert json.loads(through_api.stdout) == json.loads(on_database.stdout)

    canceled = remote(api_fn, key, "posts", "cancel", made["id"])
    assert canceled.returncode == 0 and "canceled" in canceled.stdout
    assert remote(api_fn, key, "posts", "cancel", made["id"]).returncode == 1
    needs_db = remote(api_fn, key, "accounts", "add", "--id", "fb-2", "--token-env", "HOME")
    assert needs_db.returncode == 2 and "unset SOCIALSCHED_API_URL" in needs_db.stderr
    assert "use `accounts connect`" in needs_db.stderr
    assert fresh_db["posts"].count_documents({}) == 4


def test_a_wrong_key_or_an_absent_api_is_a_clear_error(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    wrong = remote(api_fn, "sk_nobody_nothing", "accounts", "list")
    assert wrong.returncode == 1 and "did not accept SOCIALSCHED_API_KEY (401)" in wrong.stderr
    reader = apikeys.create(fresh_db, "reader", ["posts:read"], utcnow()).secret
    add = ("posts", "add", "--account", "fb-1", "--at", "2030-01-01T10:00Z", "--text", "hi")
    under_scoped = remote(api_fn, reader, *add)
    assert under_scoped.returncode == 1
    assert "may not do this (403)" in under_scoped.stderr and "posts:write" in under_scoped.stderr
    gone = Served("http://127.0.0.1:9", api_fn.output, api_fn.pid)
    unreachable = remote(gone, "sk_a_b", "accounts", "list")
    assert unreachable.returncode == 1 and "did not answer" in unreachable.stderr
    assert "Traceback" not in wrong.stderr + unreachable.stderr


def test_every_network_connects_and_reauthenticates_through_the_api_without_database_keys(
    api_fn: Served,
    status_fn: Served,
    fresh_db: Database[Any],
    sandbox: Sandbox,
    bluesky: BlueskySandbox,
    mastodon: MastodonSandbox,
) -> None:
    key = apikeys.create(fresh_db, "laptop", ["admin"], utcnow()).secret
    sandbox.add_account("111", "page", "page-token-111", "Bakery")
    sandbox.add_account("333", "instagram", "unused", "bakery_ig", page="111")
    sandbox.add_user("short-login-token", ["111"])
    sandbox.add_account("th-profile", "threads", "TH-long-lived-token", name="alice")
    handle = "alice.bsky.test"
    bluesky.add_account(handle, app_password_for(handle))
    mastodon.add_account("alice", mastodon_token_for("alice"))
    logins = [
        (("meta",), "short-login-token"),
        (("threads", "--id", "th"), "TH-long-lived-token"),
        (
            ("bluesky", "--id", "sky", "--handle", handle, "--pds", bluesky.url),
            app_password_for(handle),
        ),
        (("mastodon", "--id", "masto", "--instance", mastodon.url), mastodon_token_for("alice")),
    ]

    for login, secret in logins:
        added = remote(api_fn, key, "--json", "accounts", "connect", *login, stdin=secret + "\n")
        assert added.returncode == 0, added.stderr
        assert all(row["added"] for row in json.loads(added.stdout)["accounts"])
    stored = accounts.list_all(fresh_db)
    assert sorted((a.platform, a.id) for a in stored) == [
        ("bluesky", "sky"),
        ("facebook", "fb-111"),
        ("instagram", "ig-333"),
        ("mastodon", "masto"),
        ("threads", "th"),
    ]
    # Every account loses its credential, with one post held for its re-authentication.
    for account in stored:
        accounts.mark_needs_reauth(fresh_db, account.id, utcnow())
        held = add_post(
            fresh_db, account.id, utcnow() + timedelta(days=1), platform=account.platform
        )
        held_for_reauth = {"lastError": {"code": "auth_expired", "message": "revoked"}}
        fresh_db["posts"].update_one({"_id": held}, {"$set": held_for_reauth})

    for login, secret in logins:
        again = remote(api_fn, key, "--json", "accounts", "connect", *login, stdin=secret + "\n")
        assert again.returncode == 0, again.stderr
        rows = json.loads(again.stdout)["accounts"]
        assert [(r["added"], r["postsReleased"]) for r in rows] == [(False, 1)] * len(rows)
    assert {a.status for a in accounts.list_all(fresh_db)} == {"active"}
    assert fresh_db["posts"].count_documents({"lastError": {"$exists": True}}) == 0

    checked = remote(api_fn, key, "--json", "accounts", "check")
    assert checked.returncode == 0, checked.stderr
    assert sorted(h["accountId"] for h in json.loads(checked.stdout) if h["valid"]) == sorted(
        a.id for a in stored
    )
    reconciled = remote(api_fn, key, "--json", "posts", "reconcile")
    assert reconciled.returncode == 0, reconciled.stderr
    nothing_unknown = {"checked": 0, "published": 0, "rescheduled": 0, "stillUnknown": 0}
    assert json.loads(reconciled.stdout) == {**nothing_unknown, "errors": 0}
    shown = remote(api_fn, key, "--json", "status", status=status_fn)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["platforms"]["bluesky"] == {"connected": 1, "needsReauth": 0}
    wrong_secret = remote(api_fn, key, "accounts", "connect", "threads", stdin="not-a-token\n")
    assert wrong_secret.returncode == 2 and "Threads refused the token" in wrong_secret.stderr


def test_a_remote_import_of_1200_rows_is_one_request_all_or_nothing(
    api_fn: Served, fresh_db: Database[Any], tmp_path: Path
) -> None:
    key = apikeys.create(fresh_db, "laptop", ["admin"], utcnow()).secret
    accounts.create(
        fresh_db,
        account_id="fb-big",
        platform="facebook",
        external_id="big",
        name="Big",
        token_ciphertext="not-a-real-token",
        token_expires_at=None,
        now=utcnow(),
    )
    start = utcnow() + timedelta(days=30)
    rows = [f"fb-big,{(start + timedelta(minutes=i)).isoformat()},post {i}\n" for i in range(1200)]
    rows[1099] = "fb-big,not a time,post 1099\n"  # line 1101: the header is line 1
    csv_file = tmp_path / "big.csv"
    csv_file.write_text("account,at,text\n" + "".join(rows))

    refused = remote(api_fn, key, "import", str(csv_file))
    assert refused.returncode == 2, refused.stderr
    assert "nothing imported" in refused.stderr and "line 1101: at:" in refused.stderr
    assert fresh_db["posts"].count_documents({}) == 0

    rows[1099] = f"fb-big,{(start + timedelta(minutes=1099)).isoformat()},post 1099\n"
    csv_file.write_text("account,at,text\n" + "".join(rows))
    done = json.loads(remote(api_fn, key, "import", str(csv_file), "--json").stdout)
    assert (done["imported"], len(done["created"])) == (1200, 1200)
    assert done["created"][-1]["line"] == 1201
    assert fresh_db["posts"].count_documents({}) == 1200
    imports = fresh_db["audit"].count_documents({"action": "posts.import"})
    assert imports == 1  # one request for the whole file


def test_series_commands_answer_the_same_through_the_api_as_on_the_database(
    api_fn: Served, fresh_db: Database[Any], mongo_uri: str, fn_db_name: str
) -> None:
    key = apikeys.create(fresh_db, "laptop", ["posts:read", "posts:write"], utcnow()).secret
    add_account(fresh_db, "fb")
    first = (utcnow() + timedelta(days=2)).date()
    add = ("series", "add", "--account", "fb", "--tz", "America/New_York", "--text", "hi")
    rule = ("--start", f"{first.isoformat()}T08:30:00", "--rule", "FREQ=DAILY;COUNT=3")
    made = remote(api_fn, key, *add, *rule, "--json")
    assert made.returncode == 0, made.stderr
    sid = json.loads(made.stdout)["id"]

    for command in (("series", "list"), ("series", "show", sid)):
        through_api = remote(api_fn, key, *command, "--json")
        on_database = direct(mongo_uri, fn_db_name, *command, "--json")
        assert through_api.returncode == on_database.returncode == 0, through_api.stderr
        assert json.loads(through_api.stdout) == json.loads(on_database.stdout)
    no_change = remote(api_fn, key, "series", "edit", sid)
    assert no_change.returncode == 2 and "give at least one of" in no_change.stderr
    edited = remote(api_fn, key, "series", "edit", sid, "--text", "later", "--json")
    assert edited.returncode == 0 and json.loads(edited.stdout)["seriesId"] == sid
    ended = remote(api_fn, key, "series", "end", sid)
    assert ended.returncode == 0 and "3 unsent occurrences canceled" in ended.stdout
    assert fresh_db["posts"].count_documents({"status": "canceled"}) == 3


def test_keys_and_the_lock_are_managed_through_the_api_as_on_the_database(
    api_fn: Served, fresh_db: Database[Any], mongo_uri: str, fn_db_name: str
) -> None:
    admin = apikeys.create(fresh_db, "laptop", ["admin"], utcnow()).secret
    create = ("keys", "create", "--name", "ci", "--scope", "posts:read", "--account", "fb-1")
    made = remote(api_fn, admin, "--json", *create)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["key"].startswith(f"sk_{key['id']}_")
    assert (key["scopes"], key["accounts"], key["revokedAt"]) == (["posts:read"], ["fb-1"], None)
    # fb-1 is not connected: the key will reach it once it is (or never, if misspelt).
    assert key["warnings"] == ["no account fb-1 (yet): the key reaches it once it is connected"]
    assert remote(api_fn, key["key"], "accounts", "list").returncode == 0  # the new key works
    shown = remote(api_fn, admin, "keys", "create", "--name", "ops", "--scope", "admin")
    assert "Store it now: it is shown only once" in shown.stdout
    assert "warning" not in shown.stdout
    add_account(fresh_db, "fb-2")
    named = ("--name", "two", "--scope", "posts:read", "--account", "fb-2", "--account", "fb-3")
    told = direct(mongo_uri, fn_db_name, "keys", "create", *named)
    assert told.returncode == 0, told.stderr
    assert told.stdout.splitlines()[-1] == (
        "warning: no account fb-3 (yet): the key reaches it once it is connected"
    )

    through_api = remote(api_fn, admin, "--json", "keys", "list")
    on_database = direct(mongo_uri, fn_db_name, "--json", "keys", "list")
    assert through_api.returncode == on_database.returncode == 0, through_api.stderr
    listed = json.loads(through_api.stdout)
    assert listed == json.loads(on_database.stdout)
    assert [k["name"] for k in listed] == ["laptop", "ci", "ops", "two"]
    secret = key["key"].split("_", 2)[2]
    stored_hash = fresh_db["api_keys"].find_one({"_id": key["id"]})["hash"]  # type: ignore[index]
    assert secret not in through_api.stdout and stored_hash not in through_api.stdout
    assert all("key" not in k and "hash" not in k for k in listed)

    revoked = remote(api_fn, admin, "keys", "revoke", key["id"])
    assert revoked.returncode == 0 and f"key {key['id']} revoked" in revoked.stdout
    assert remote(api_fn, key["key"], "accounts", "list").returncode == 1
    twice = remote(api_fn, admin, "keys", "revoke", key["id"])
    assert twice.returncode == 1 and "No live key" in twice.stderr

    assert json.loads(remote(api_fn, admin, "--json", "lock", "show").stdout) == {"held": False}
    lock.acquire(fresh_db, "stuck-run", utcnow(), timedelta(minutes=5))
    for command in (("lock", "show"), ("--json", "lock", "show")):
        through_api = remote(api_fn, admin, *command)
        on_database = direct(mongo_uri, fn_db_name, *command)
        assert through_api.returncode == on_database.returncode == 0, through_api.stderr
        assert through_api.stdout == on_database.stdout
    shown_lock = remote(api_fn, admin, "lock", "show").stdout
    assert "held by run stuck-run" in shown_lock and "(live)" in shown_lock
    live = remote(api_fn, admin, "lock", "release", "--yes")
    assert live.returncode == 1 and "held and not expired" in live.stderr
    forced = remote(api_fn, admin, "lock", "release", "--force", "--yes")
    assert forced.returncode == 0 and "execution lock released" in forced.stdout
    assert "lock" not in lock.read_state(fresh_db)
    actions = [a["action"] for a in fresh_db["audit"].find({}, sort=[("_id", 1)])]
    assert actions == ["keys.create", "keys.create", "keys.revoke", "lock.release", "lock.release"]


def test_the_admin_commands_need_an_admin_key_for_every_account_and_valid_input(
    api_fn: Served, fresh_db: Database[Any]
) -> None:
    writer = apikeys.create(fresh_db, "writer", ["posts:read", "posts:write"], utcnow()).secret
    limited = apikeys.create(fresh_db, "limited", ["admin"], utcnow(), ["fb-1"]).secret
    for command in (
        ("keys", "list"),
        ("keys", "create", "--name", "mine", "--scope", "admin"),
        ("keys", "revoke", "0123456789abcdef"),
        ("lock", "show"),
        ("lock", "release", "--force", "--yes"),
        ("media", "sweep"),
    ):
        for key, reason in ((writer, "lacks the admin scope"), (limited, "limited to accounts")):
            refused = remote(api_fn, key, *command)
            assert refused.returncode == 1, (command, refused.stderr)
            assert "may not do this (403)" in refused.stderr and reason in refused.stderr
    assert fresh_db["api_keys"].count_documents({}) == 2

    admin = apikeys.create(fresh_db, "laptop", ["admin"], utcnow()).secret
    long_name = remote(api_fn, admin, "keys", "create", "--name", "n" * 201, "--scope", "admin")
    assert long_name.returncode == 2 and "name" in long_name.stderr
    blank = remote(api_fn, admin, "keys", "create", "--name", "  ", "--scope", "admin")
    assert blank.returncode == 2 and "not only spaces" in blank.stderr
    # `keys list` prints names to a terminal: an escape sequence in one would act there.
    escape = remote(api_fn, admin, "keys", "create", "--name", "ci\x1b[2J", "--scope", "admin")
    assert escape.returncode == 2 and "printable characters" in escape.stderr
    made = requests.post(
        api_fn.url + "/v1/keys",
        json={"name": "once", "scopes": ["posts:read"]},
        headers=bearer(admin),
        timeout=30,
    )
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"  # the secret
    for path, body, named in (
        ("/v1/keys", {"name": "x", "scopes": ["root"]}, "scopes"),
        ("/v1/keys", {"name": "x", "scopes": []}, "scopes"),
        ("/v1/keys", {"name": "x", "scopes": ["admin"], "accounts": []}, "accounts"),
        ("/v1/keys", {"name": "x", "scopes": ["admin"], "hash": "0" * 64}, "hash"),
        ("/v1/lock:release", {"force": "yes"}, "force"),
    ):
        bad = requests.post(api_fn.url + path, json=body, headers=bearer(admin), timeout=30)
        assert bad.status_code == 400, (body, bad.text)
        fields = [p["field"].split("[")[0] for p in bad.json()["problems"]]
        assert named in fields, bad.text
    for path in ("/v1/keys/0123456789abcdef:revoke", "/v1/media:sweep"):
        bad = requests.post(api_fn.url + path, json={"x": 1}, headers=bearer(admin), timeout=30)
        assert bad.status_code == 400 and bad.json()["error"] == "This action takes no body fields"
    assert fresh_db["api_keys"].count_documents({}) == 4


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _abandoned_upload(api: Served, key: str, db: Database[Any], data: bytes) -> str:
    """An upload started through the api two days ago and never completed."""
    body = {
        "accountIds": ["ig"],
        "mediaType": "image/png",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    started = requests.post(api.url + "/v1/media", json=body, headers=bearer(key), timeout=30)
    assert started.status_code == 201, started.text
    item_id: str = started.json()["media"]["id"]
    db["media"].update_one({"_id": item_id}, {"$set": {"createdAt": utcnow() - timedelta(days=2)}})
    return item_id


def test_media_sweep_through_the_api_deletes_what_it_deletes_on_the_database(
    api_fn: Served,
    fresh_db: Database[Any],
    mongo_uri: str,
    fn_db_name: str,
    storage_server: LocalStorage,
) -> None:
    admin = apikeys.create(fresh_db, "laptop", ["admin"], utcnow()).secret
    add_account(fresh_db, "ig", "instagram")
    through_api_item = _abandoned_upload(api_fn, admin, fresh_db, b"never finished")
    swept = remote(api_fn, admin, "--json", "media", "sweep")
    assert swept.returncode == 0, swept.stderr
    assert fresh_db["media"].find_one({"_id": through_api_item}) is None

    on_database_item = _abandoned_upload(api_fn, admin, fresh_db, b"never finished either")
    settings = storage_server.settings()
    on_database = direct(mongo_uri, fn_db_name, "--json", "media", "sweep", settings=settings)
    assert on_database.returncode == 0, on_database.stderr
    assert fresh_db["media"].find_one({"_id": on_database_item}) is None
    report = {"expiredUploads": 1, "deleted": 0, "kept": 0}
    assert json.loads(swept.stdout) == json.loads(on_database.stdout) == report
    again = remote(api_fn, admin, "media", "sweep")
    assert again.returncode == 0 and "expired uploads: 0, deleted: 0" in again.stdout


def test_run_goes_to_the_run_function_with_an_admin_key_behind_cloud_runs_invoker_check(
    api_fn: Served,
    run_fn: Served,
    standin: str,
    fresh_db: Database[Any],
    mongo_uri: str,
    fn_db_name: str,
) -> None:
    admin = apikeys.create(fresh_db, "laptop", ["admin"], utcnow()).secret
    add_account(fresh_db, "fb")
    add_post(fresh_db, "fb", utcnow() - timedelta(seconds=5))
    signed_in = {
        "SOCIALSCHED_RUN_URL": run_fn.url,
        "SOCIALSCHED_RUN_ID_TOKEN": id_token(standin, RUN_AUDIENCE, RUN_INVOKER),
    }
    ran = remote(api_fn, admin, "--json", "run", "--limit", "5", more=signed_in)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert (result["skipped"], result["postsProcessed"], result["postsPublished"]) == (False, 1, 1)
    on_database = direct(mongo_uri, fn_db_name, "--json", "run")  # nothing due: no network
    assert on_database.returncode == 0, on_database.stderr
    assert set(json.loads(on_database.stdout)) == set(result)
    again = remote(api_fn, admin, "run", more=signed_in)
    assert again.returncode == 0 and "0 processed, 0 published" in again.stdout, again.stderr

    no_url = remote(api_fn, admin, "run")
    assert no_url.returncode == 2 and "set SOCIALSCHED_RUN_URL" in no_url.stderr
    outsider = id_token(standin, RUN_AUDIENCE, "someone@example.test")
    for token in ({}, {"SOCIALSCHED_RUN_ID_TOKEN": outsider}):
        refused = remote(api_fn, admin, "run", more={"SOCIALSCHED_RUN_URL": run_fn.url, **token})
        assert refused.returncode == 1, refused.stderr
        assert "Cloud Run refused" in refused.stderr and "gcloud auth" in refused.stderr
    writer = apikeys.create(fresh_db, "writer", ["posts:read", "posts:write"], utcnow()).secret
    limited = apikeys.create(fresh_db, "limited", ["admin"], utcnow(), ["fb"]).secret
    for key, reason in ((writer, "lacks the admin scope"), (limited, "limited to accounts")):
        refused = remote(api_fn, key, "run", more=signed_in)
        assert refused.returncode == 1 and "may not do this (403)" in refused.stderr
        assert reason in refused.stderr
    headers = {
        **bearer(admin),
        "X-Serverless-Authorization": f"Bearer {signed_in['SOCIALSCHED_RUN_ID_TOKEN']}",
    }
    bad = requests.post(run_fn.url, json={"limit": 0}, headers=headers, timeout=30)
    assert bad.status_code == 400 and "limit must be" in bad.json()["error"]
    runs = fresh_db["scheduler_state"].find_one()["totalExecutions"]  # type: ignore[index]
    assert runs == 3  # two through the run function, one on the database
