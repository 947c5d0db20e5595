"""Where posts go in their account's chain of tasks (DISPATCH=tasks), on the real database: the
tick's loader and the prompt start of a post created due soon (common.dispatch.loading), and
the publish function's hand-over (common.dispatch.work.TaskWork) with the recording publisher.
The queue is kept in memory: which tasks exist is what these tests count."""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from common.clock import utcnow
from common.config import Settings
from common.db import Doc
from common.dispatch import loading
from common.dispatch.work import Done, TaskWork
from common.events import NoEvents
from common.model import Content, Post
from common.operations import csv_import
from common.operations.admission import Admission
from common.platforms.base import Permanent
from common.posts import actions, tasks
from common.tasks import PostTask
from tests import engine_worker
from tests.conftest import SettingsFactory, add_account, add_post, add_thread
from tests.query_shapes import CommandRecorder, problems, queries
from tests.recording import LOG, registry_for


class Queue:
    """Cloud Tasks, in memory: the tasks created, by name; a name is created once."""

    def __init__(self) -> None:
        self.made: list[PostTask] = []

    def name_of(self, task: PostTask) -> str:
        return task.task_id

    def enqueue(self, task: PostTask) -> bool:
        if any(t.task_id == task.task_id for t in self.made):
            return False
        self.made.append(task)
        return True

    def posts(self) -> list[ObjectId]:
        return [ObjectId(t.post_id) for t in self.made]


@pytest.fixture
def tasks_settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(**engine_worker.as_tasks())


def _load(db: Database[Doc], queue: Queue, settings: Settings) -> loading.Loaded:
    return loading.load_upcoming(db, queue, settings, utcnow(), 1000)


def _link(db: Database[Doc], pid: ObjectId) -> ObjectId | None:
    doc = db["posts"].find_one({"_id": pid})
    assert doc is not None
    then = (doc.get("task") or {}).get("then")
    return None if then is None else ObjectId(then[0])


def _prompt(settings: Settings, queue: Queue) -> loading.PromptTasks:
    return loading.PromptTasks(queue, settings)


def _created(db: Database[Doc], account: str, due: datetime, text: str) -> ObjectId:
    return add_post(db, account, due, text=text)


def test_a_post_created_between_two_posts_of_a_chain_is_linked_between_them_without_a_task(
    db: Database[Doc], tasks_settings: Settings
) -> None:
    add_account(db, "a")
    due = utcnow() + timedelta(seconds=20)
    first, third = (_created(db, "a", due + timedelta(seconds=s), f"a{s}") for s in (0, 10))
    queue = Queue()
    assert _load(db, queue, tasks_settings) == loading.Loaded(created=1, chained=1)
    middle = _created(db, "a", due + timedelta(seconds=5), "a5")
    _prompt(tasks_settings, queue).post_written(db, middle, due + timedelta(seconds=5), utcnow())
    assert queue.posts() == [first]  # no task of its own: it would run beside the chain
    assert (_link(db, first), _link(db, middle), _link(db, third)) == (middle, third, None)
    assert _load(db, queue, tasks_settings) == loading.Loaded()  # the tick finds it placed


def test_posts_created_before_and_after_a_chain_start_their_own_or_follow_its_last(
    db: Database[Doc], tasks_settings: Settings
) -> None:
    add_account(db, "a")
    add_account(db, "b")
    due = utcnow() + timedelta(seconds=20)
    first = _created(db, "a", due, "a0")
    queue = Queue()
    _load(db, queue, tasks_settings)
    earlier = _created(db, "a", due - timedelta(seconds=5), "a-5")
    later = _created(db, "a", due + timedelta(seconds=5), "a5")
    other = _created(db, "b", due + timedelta(seconds=5), "b5")
    assert _load(db, queue, tasks_settings) == loading.Loaded(created=2, chained=1)
    assert sorted(queue.posts()) == sorted([first, earlier, other])  # created in parallel
    assert (_link(db, earlier), _link(db, first), _link(db, later)) == (None, later, None)


def test_a_post_created_while_its_accounts_post_is_sent_is_handed_the_turn_by_it(
    db: Database[Doc], tasks_settings: Settings
) -> None:
    """The post being sent read its link when it was claimed; its settle reads it again, so a
    post linked after it meanwhile gets its task from it, and never one beside it."""
    add_account(db, "a")
    due = utcnow() - timedelta(seconds=1)
    sent = _created(db, "a", due, "a0")
    queue = Queue()
    _load(db, queue, tasks_settings)
    made: list[ObjectId] = []

    def create_meanwhile(post: Post) -> None:
        if post.id == sent:
            made.append(_created(db, "a", utcnow(), "created while a0 is sent"))
            _prompt(tasks_settings, queue).post_written(db, made[0], utcnow(), utcnow())
            assert queue.posts() == [sent]  # linked after a0, which is publishing

    work = TaskWork(
        db,
        registry_for(db, before_send=create_meanwhile),
        tasks_settings,
        queue,
        NoEvents(),
        utcnow,
    )
    assert work.handle(queue.made[0]) == Done("published")
    assert queue.posts() == [sent, made[0]]  # a0's task created its task once done
    assert work.handle(queue.made[1]) == Done("published")


def test_an_edit_in_place_recorded_after_a_post_was_linked_to_it_keeps_the_link(
    db: Database[Doc], tasks_settings: Settings
) -> None:
    """The tick reads an edited post, a post is linked after it (a prompt create), then the
    tick records the edit in its older version's place: the link stays."""
    add_account(db, "a")
    due = utcnow() + timedelta(seconds=20)
    edited = _created(db, "a", due, "a0")
    queue = Queue()
    _load(db, queue, tasks_settings)
    assert actions.edit_content(db, edited, Content(text="a0 edited"), utcnow())
    read = tasks.upcoming(db, utcnow(), due, 10)  # the tick's read, before the create
    assert [(p.id, p.in_place) for p in read] == [(edited, True)]
    created = _created(db, "a", due + timedelta(seconds=5), "a5")
    _prompt(tasks_settings, queue).post_written(db, created, due + timedelta(seconds=5), utcnow())
    assert _link(db, edited) == created
    loaded = loading.start(db, queue, read, utcnow() - timedelta(minutes=2), utcnow())
    assert loaded == loading.Loaded(chained=1)
    doc = db["posts"].find_one({"_id": edited})
    assert doc is not None and doc["task"]["for"] == [2, doc["dueAt"]]
    assert _link(db, edited) == created
    assert queue.posts() == [edited]  # version 1's task hands the turn to version 2


def _csv(rows: list[tuple[str, datetime, str]]) -> io.StringIO:
    lines = ["account,at,text", *(f"{a},{at.isoformat()},{text}" for a, at, text in rows)]
    return io.StringIO("\n".join(lines) + "\n")


def _import(
    db: Database[Doc], settings: Settings, queue: Queue, rows: list[tuple[str, datetime, str]]
) -> csv_import.Imported:
    imported = csv_import.import_csv(
        db, _csv(rows), utcnow(), Admission(timedelta(days=1), _prompt(settings, queue))
    )
    assert isinstance(imported, csv_import.Imported)
    return imported


def test_a_csv_import_starts_the_tasks_of_its_rows_due_before_the_next_tick_at_once(
    db: Database[Doc], tasks_settings: Settings
) -> None:
    for account in ("a", "b", "c"):
        add_account(db, account)
    soon, later = utcnow() + timedelta(seconds=20), utcnow() + timedelta(hours=2)
    queue = Queue()
    rows = [("a", soon, "a0"), ("a", soon + timedelta(seconds=1), "a1"), ("b", soon, "b0")]
    imported = _import(db, tasks_settings, queue, [*rows, ("c", later, "c0")])
    a0, a1, b0, c0 = (row.post_id for row in imported.created)
    assert sorted(queue.posts()) == sorted([a0, b0])  # a1 follows a0; c0 is the ticks'
    assert (_link(db, a0), _link(db, a1), _link(db, b0)) == (a1, None, None)
    assert db["posts"].find_one({"_id": c0}, {"task": 1}) == {"_id": c0}
    assert _load(db, queue, tasks_settings) == loading.Loaded()  # the next tick: no-op


def test_a_csv_import_of_ten_times_the_rows_costs_the_same_database_commands(
    mongo_uri: str, db: Database[Doc], tasks_settings: Settings
) -> None:
    """Its tasks are started as one batch: no command per row (nor per new task)."""
    recorder = CommandRecorder()
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[recorder])
    listened = client[db.name]
    soon = utcnow() + timedelta(seconds=20)
    counts = []
    for size in (3, 30):
        accounts = [f"x{size}-{i}" for i in range(3)]
        for account in accounts:
            add_account(db, account)
        rows = [(accounts[i % 3], soon + timedelta(seconds=i), f"p{i}") for i in range(size)]
        queue = Queue()
        recorder.clear()
        _import(listened, tasks_settings, queue, rows)
        counts.append(len(recorder.commands))
        assert len(queue.made) == 3  # one task per account; the rest are linked
    client.close()
    assert counts[0] == counts[1]


def test_a_threads_parts_get_their_tasks_as_their_parents_go_out_not_at_the_next_tick(
    mongo_uri: str, db: Database[Doc], tasks_settings: Settings
) -> None:
    """One tick's load, then only the publish function's tasks: each part is released by its
    parent's publication and its task is created then, so the thread goes out part after part
    within seconds, each post once, every command served by an index."""
    add_account(db, "a")
    add_thread(db, "a", parts=2, comment=True)
    queue = Queue()
    assert _load(db, queue, tasks_settings) == loading.Loaded(created=1)
    recorder = CommandRecorder()
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[recorder])
    listened = client[db.name]
    work = TaskWork(listened, registry_for(db), tasks_settings, queue, NoEvents(), utcnow)
    handled = 0
    while handled < len(queue.made):  # every task, including those created meanwhile
        assert work.handle(queue.made[handled]) == Done("published")
        handled += 1
    client.close()
    assert handled == 4
    assert problems(queries(recorder.commands, {LOG})) == []
    statuses = Counter(d["status"] for d in db["posts"].find())
    assert statuses == {"published": 4}
    assert Counter(s["text"] for s in db[LOG].find()) == Counter(
        ["the post", "part 1", "part 2", "first comment"]
    )
    assert _load(db, queue, tasks_settings) == loading.Loaded()  # the next tick: nothing left


def test_a_parent_that_fails_costs_no_read_for_parts_it_did_not_release(
    mongo_uri: str, db: Database[Doc], tasks_settings: Settings
) -> None:
    """Its parts are stopped with it: the publish function makes no task and looks for none."""
    add_account(db, "a")
    add_thread(db, "a", parts=2, comment=True)
    queue = Queue()
    _load(db, queue, tasks_settings)
    recorder = CommandRecorder()
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[recorder])
    refuse = registry_for(db, script=lambda post: Permanent("invalid", "refused"))
    work = TaskWork(client[db.name], refuse, tasks_settings, queue, NoEvents(), utcnow)
    assert work.handle(queue.made[0]) == Done("failed")
    client.close()
    assert len(queue.made) == 1
    assert Counter(d["status"] for d in db["posts"].find()) == {"failed": 4}
    finds = [c for c in recorder.commands if c.get("find") == "posts"]
    assert finds == []
