"""Fixtures that start real parts (a MongoDB wire-protocol server and a fresh database per test,
the sandboxes), and the test layers.

Tests live in one folder per layer, by what they start: `tests/unit` nothing (no process, no
database), `tests/db` the wire server only, `tests/process` functions, sandboxes, emulators and
CLI subprocesses, `tests/infra` Terraform and the deployment scripts. `make test-fast` runs the
unit and db layers; `make test` runs all four. Each test gets its layer's marker (`-m unit`), and a
test that uses fixtures of a heavier layer than its folder's is refused at collection.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from common import accounts, model
from common.clock import ScheduledTime, utcnow
from common.config import Settings, load_settings
from common.db import Doc
from common.posts import store
from devstack import dbserver
from devstack import storage as local_storage
from devstack.processes import free_port, stop, wait_until_listening
from devstack.sandbox import control as sandbox_control
from devstack.sandbox.control import BlueskySandbox, MastodonSandbox, Sandbox
from devstack.storage import LocalStorage
from tests.databases import CleanDatabases, WriteLog, new_name

# Fixtures that serve the Cloud Functions under functions-framework.
pytest_plugins = ("tests.functions_fixtures",)

LAYERS = ("unit", "db", "process", "infra")
# Every database fixture depends on mongo_uri; pytest lists a test's fixtures with their
# dependencies, so one name catches them all.
_DATABASE_FIXTURES = frozenset({"mongo_uri"})
# Fixtures that start processes: by convention `*_server` (sandboxes) and `*_fn` (functions, all
# built on fn_workdir), plus the stand-ins named here.
_PROCESS_FIXTURES = frozenset({"fn_workdir", "standin", "emulator_host"})


def layer_of(path: Path) -> str | None:
    """The layer folder a test file sits in (None for a file outside the four)."""
    parts = path.resolve().relative_to(Path(__file__).resolve().parent).parts
    return parts[0] if len(parts) > 1 and parts[0] in LAYERS else None


def _starts_processes(fixtures: Iterable[str]) -> bool:
    return any(name in _PROCESS_FIXTURES or name.endswith(("_server", "_fn")) for name in fixtures)


def heavier_than_its_layer(layer: str, fixtures: Iterable[str]) -> str | None:
    """Why a test's fixtures do not belong in `layer`, or None when they do."""
    used = set(fixtures)
    if layer in ("unit", "db") and _starts_processes(used):
        return "starts processes (move it to tests/process)"
    if layer == "unit" and used & _DATABASE_FIXTURES:
        return "uses the database (move it to tests/db)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        layer = layer_of(item.path)
        if layer is None:
            continue
        item.add_marker(getattr(pytest.mark, layer))
        why = heavier_than_its_layer(layer, getattr(item, "fixturenames", ()))
        if why is not None:
            misplaced.append(f"{item.nodeid}: {why}")
    if misplaced:
        raise pytest.UsageError("tests in the wrong layer:\n" + "\n".join(misplaced))


# Our own database server, launched once the collected tests are known to need one, without
# waiting: the JVM boots (most of a second) while the tests before the first database test run.
_OWN_SERVER = pytest.StashKey[tuple[int, subprocess.Popen[str]]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if os.environ.get("MONGO_URI") or session.config.option.collectonly:
        return
    if any(_DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items):
        session.config.stash[_OWN_SERVER] = _launch_server(session.config)


def _launch_server(config: pytest.Config) -> tuple[int, subprocess.Popen[str]]:
    port = free_port()
    proc = dbserver.launch(port, short_run=True)
    config.add_cleanup(lambda: stop(proc))  # after the session's clients are closed
    return port, proc


# A shell without job control (a CI script's `make test &`, `nohup ... &`) starts a background
# command with SIGINT ignored, and every process it starts inherits that. The local stack's tests
# stop the stack with SIGINT, as Ctrl-C does, so the session takes SIGINT back: its children then
# start with it (and pytest stops on Ctrl-C as usual).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def mongo_uri(pytestconfig: pytest.Config) -> str:
    """MONGO_URI when set (make test sets it, or a real MongoDB); else a server of our own."""
    if os.environ.get("MONGO_URI"):
        return os.environ["MONGO_URI"]
    port, proc = pytestconfig.stash.get(_OWN_SERVER, None) or _launch_server(pytestconfig)
    wait_until_listening(proc, port, "database server")
    return f"mongodb://127.0.0.1:{port}/"


@pytest.fixture
def db_name(request: pytest.FixtureRequest) -> str:
    """The test's database: a clean one with the indexes when the test asks for `db` too."""
    if "db" in request.fixturenames:
        clean: CleanDatabases = request.getfixturevalue("clean_databases")
        return clean.take()
    return new_name()


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient[Doc]]:
    """One client for the session's test databases: a client's handshake and monitor thread
    per test cost more than many of the tests."""
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True)
    yield client
    client.close()


# Before any client is made: clients report to the listeners registered when they were made.
_WRITES = WriteLog()
monitoring.register(_WRITES)


@pytest.fixture(scope="session")
def clean_databases(mongo_client: MongoClient[Doc]) -> Iterator[CleanDatabases]:
    clean = CleanDatabases(mongo_client, _WRITES)
    yield clean
    clean.close()


@pytest.fixture
def db(
    request: pytest.FixtureRequest,
    mongo_client: MongoClient[Doc],
    clean_databases: CleanDatabases,
    db_name: str,
) -> Iterator[Database[Doc]]:
    yield mongo_client[db_name]
    # Only the db layer's tests write from this process alone (tests/process start functions).
    in_process = layer_of(request.node.path) == "db"
    clean_databases.give_back(db_name, watched_all_writes=in_process)


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(mongo_uri: str, db_name: str) -> SettingsFactory:
    def factory(**env: object) -> Settings:
        base = {"MONGO_URI": mongo_uri, "MONGO_DB": db_name, "MONGO_TIMEOUT_MS": "3000"}
        base["PRIVATE_ADDRESSES_ALLOWED"] = "on"  # the sandboxes listen on loopback
        base.update({k: str(v) for k, v in env.items()})
        return load_settings(base)

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


def add_account(db: Database[Doc], account_id: str, platform: str = "facebook") -> None:
    accounts.create(
        db,
        account_id=account_id,
        platform=platform,
        external_id=f"ext-{account_id}",
        name=account_id,
        token_ciphertext="not-a-real-token",
        token_expires_at=None,
        now=utcnow(),
    )


def add_post(
    db: Database[Doc],
    account_id: str,
    due: datetime,
    text: str = "hello",
    platform: str = "facebook",
) -> ObjectId:
    when = ScheduledTime(due, "UTC", due.isoformat())
    return store.create(
        db,
        account_id=account_id,
        platform=platform,
        content=model.Content(text=text),
        when=when,
        now=utcnow(),
    )


def left_by_a_dead_runner(db: Database[Doc], post_id: ObjectId) -> None:
    """A runner claimed the post, began its send and died: the lease has expired."""
    past = utcnow() - timedelta(minutes=1)
    db["posts"].update_one(
        {"_id": post_id},
        {
            "$set": {
                "status": "publishing",
                "sendStartedAt": past,
                "lease": {"runId": "dead-runner", "fence": 1, "expiresAt": past},
            }
        },
    )


def thread_post(
    account_id: str, parts: int, comment: bool = False, key: str | None = None
) -> store.NewPost:
    """A facebook post due a minute ago, "the post", with `parts` thread parts ("part 1"...)
    and, if asked, a "first comment"."""
    due = utcnow() - timedelta(minutes=1)
    follow_ups = [
        store.NewFollowUp("thread", model.Content(text=f"part {i}")) for i in range(1, parts + 1)
    ]
    if comment:
        follow_ups.append(store.NewFollowUp("comment", model.Content(text="first comment")))
    return store.NewPost(
        account_id,
        "facebook",
        model.Content(text="the post"),
        ScheduledTime(due, "UTC", due.isoformat()),
        idempotency_key=key,
        follow_ups=tuple(follow_ups),
    )


def add_thread(
    db: Database[Doc], account_id: str, parts: int, comment: bool = False, key: str | None = None
) -> ObjectId:
    made = store.insert_once(db, thread_post(account_id, parts, comment, key), utcnow())
    assert isinstance(made, ObjectId)
    return made


def seed(
    db: Database[Doc], n_posts: int, n_accounts: int, ago: timedelta = timedelta(minutes=1)
) -> list[ObjectId]:
    """n_posts due posts spread round-robin over n_accounts facebook accounts."""
    for a in range(n_accounts):
        add_account(db, f"acct-{a}")
    now = utcnow()
    ids = []
    for i in range(n_posts):
        due = now - ago + timedelta(milliseconds=i)
        ids.append(add_post(db, f"acct-{i % n_accounts}", due, text=f"post {i}"))
    return ids


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    """One sandbox Graph API process (real HTTP on loopback) for the whole session."""
    with sandbox_control.running() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    """The sandbox, emptied of accounts, posts and faults before each test."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture(scope="session")
def bluesky_server() -> Iterator[BlueskySandbox]:
    """One Bluesky sandbox PDS process (real HTTP on loopback) for the whole session."""
    with sandbox_control.running_bluesky() as server:
        yield server


@pytest.fixture
def bluesky(bluesky_server: BlueskySandbox) -> BlueskySandbox:
    """The Bluesky sandbox, emptied of accounts, records and faults before each test."""
    bluesky_server.reset()
    return bluesky_server


@pytest.fixture(scope="session")
def mastodon_server() -> Iterator[MastodonSandbox]:
    """One Mastodon sandbox process (real HTTP on loopback) for the whole session."""
    with sandbox_control.running_mastodon() as server:
        yield server


@pytest.fixture
def mastodon(mastodon_server: MastodonSandbox) -> MastodonSandbox:
    """The Mastodon sandbox, emptied of accounts, statuses and faults before each test."""
    mastodon_server.reset()
    return mastodon_server


@pytest.fixture(scope="session")
def storage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStorage]:
    """One Cloud Storage emulator and its signed-URL front for the whole session."""
    key = tmp_path_factory.mktemp("media-signer") / "media-signer.json"
    with local_storage.running(key) as served:
        yield served
