"""What one publish instance keeps between tasks (common.dispatch.work: AccountCache) and what
it leaves to the tick, against the sandbox Graph API and the real database: an account cached
as active that was paused or marked needs_reauth meanwhile sends nothing the platform accepts;
the status figures of what tasks finished are counted exactly once, by the next tick."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from common import accounts, stats
from common.clock import utcnow
from common.config import Settings
from common.db import ACCOUNTS, Doc
from common.dispatch import loading
from common.dispatch.work import Done, TaskWork
from common.events import NoEvents
from common.model import AUTH_EXPIRED, ErrorInfo
from common.platforms.registry import default_registry
from common.posts import lease, store, tasks
from common.tasks import PostTask
from common.transitions.policy import Fail
from devstack.sandbox.control import Sandbox
from tests import engine_worker
from tests.conftest import SettingsFactory, add_post
from tests.meta_support import connect, meta_env


class AccountReads(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == ACCOUNTS:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def reads() -> AccountReads:
    return AccountReads()


@pytest.fixture
def counted_db(mongo_uri: str, db: Database[Doc], reads: AccountReads) -> Database[Doc]:
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[reads])
    return client[db.name]


@pytest.fixture
def fb_settings(make_settings: SettingsFactory, sandbox: Sandbox) -> Settings:
    return make_settings(**meta_env(sandbox), **engine_worker.as_tasks())


class NextTasks:
    """The queue a deferred post's next task goes to, kept in memory."""

    def __init__(self) -> None:
        self.tasks: list[PostTask] = []

    def name_of(self, task: PostTask) -> str:
        return task.task_id

    def enqueue(self, task: PostTask) -> bool:
        self.tasks.append(task)
        return True


def _work(db: Database[Doc], settings: Settings, queue: NextTasks | None = None) -> TaskWork:
    registry = default_registry(settings)
    return TaskWork(db, registry, settings, queue or NextTasks(), NoEvents(), utcnow)


def _task(db: Database[Doc], pid: ObjectId) -> PostTask:
    post = store.get(db, pid)
    assert post is not None
    return PostTask.of(pid, post.version, post.due_at)


def _doc(db: Database[Doc], pid: ObjectId) -> dict[str, Any]:
    doc = db["posts"].find_one({"_id": pid})
    assert doc is not None
    return doc


def test_an_account_cached_as_active_then_marked_needs_reauth_sends_nothing(
    counted_db: Database[Doc], fb_settings: Settings, sandbox: Sandbox, reads: AccountReads
) -> None:
    db = counted_db
    connect(db, sandbox, "page-1")
    due = utcnow() - timedelta(seconds=1)
    first, second, third = (add_post(db, "page-1", due, text=f"p{i}") for i in range(3))
    queue = NextTasks()
    work = _work(db, fb_settings, queue)
    assert work.handle(_task(db, first)) == Done("published")
    # Another instance learnt the token stopped working, after this one cached the account.
    accounts.mark_needs_reauth(db, "page-1", utcnow())
    sandbox.set_faults("page-1", invalid_token=True)
    assert work.handle(_task(db, second)) == Done("deferred")
    assert reads.count == 1  # the second task went on the cached, stale, "active" account
    held = _doc(db, second)
    assert (held["status"], held["lastError"]["code"], held["attempts"]) == (
        "scheduled",
        AUTH_EXPIRED,
        0,
    )
    assert work.handle(_task(db, third)) == Done("deferred")
    assert reads.count == 2  # the hold dropped the cached account: the third read it afresh
    assert [t.post_id for t in queue.tasks] == [str(second), str(third)]  # due again later
    assert [p["text"] for p in sandbox.posts()] == ["p0"]


def test_an_account_cached_as_active_then_paused_sends_nothing_and_spends_no_attempt(
    counted_db: Database[Doc], fb_settings: Settings, sandbox: Sandbox, reads: AccountReads
) -> None:
    db = counted_db
    connect(db, sandbox, "page-1")
    due = utcnow() - timedelta(seconds=1)
    first, second = (add_post(db, "page-1", due, text=f"p{i}") for i in range(2))
    work = _work(db, fb_settings)
    assert work.handle(_task(db, first)) == Done("published")
    # Another instance was rate-limited on this account and paused it.
    accounts.pause_until(db, "page-1", utcnow() + timedelta(minutes=5), utcnow())
    sandbox.set_faults("page-1", rate_limited=1)
    assert work.handle(_task(db, second)) == Done("deferred")
    assert reads.count == 1
    deferred = _doc(db, second)
    assert (deferred["status"], deferred["lastError"]["code"], deferred["attempts"]) == (
        "scheduled",
        "rate_limited",
        0,
    )
    assert [p["text"] for p in sandbox.posts()] == ["p0"]


def test_the_figures_of_what_tasks_finished_are_counted_once_by_the_next_tick(
    db: Database[Doc], fb_settings: Settings, sandbox: Sandbox
) -> None:
    connect(db, sandbox, "page-1")
    due = utcnow() - timedelta(seconds=1)
    pids = [add_post(db, "page-1", due, text=f"p{i}") for i in range(3)]
    work = _work(db, fb_settings)
    outcomes = Counter(work.handle(_task(db, pid)).outcome for pid in pids)
    assert outcomes == {"published": 3}
    # A task writes its post's outcome and nothing else: the figures wait for the tick.
    assert db["hourly_stats"].count_documents({}) == 0
    assert db["scheduler_state"].count_documents({}) == 0
    # One failed the way a task fails a post, by its own settle.
    failed = add_post(db, "page-1", due, text="refused")
    terms = lease.LeaseTerms("task-t", 0, timedelta(minutes=5), utcnow, lambda: 60.0, None, True)
    claim = tasks.claim_for_task(db, failed, 1, _task(db, failed).due_at, terms)
    assert claim is not None
    claim.claimed.settle(Fail(ErrorInfo("refused", "no")))
    assert loading.count_finished(db, utcnow()) == 4
    assert loading.count_finished(db, utcnow()) == 0  # counted once
    now = utcnow()
    day = stats.last_day_of(db["hourly_stats"].aggregate(stats.hours_read(now)), now)
    assert (sum(day.published), sum(day.failed), day.published_on_time) == (3, 1, 3)
    state = db["scheduler_state"].find_one()
    assert state is not None
    assert (state["totalPostsPublished"], state["totalPostsFailed"]) == (3, 1)
    assert db["posts"].count_documents({"uncounted": {"$exists": True}}) == 0
