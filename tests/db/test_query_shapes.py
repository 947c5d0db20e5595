"""Every command of a tick and of a status report is served by a declared index.

The local server ignores secondary indexes, so speed here proves nothing: these tests record
each command (pymongo CommandListener) and check its filter and sort against db.INDEXES the
way MongoDB's planner would use them (tests/query_shapes.py). `make test-mongodb` checks the
same on a real MongoDB with explain (tests/db/test_mongodb_explain.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from bson import ObjectId
from flask import Response
from pymongo import MongoClient
from pymongo.database import Database
from werkzeug.datastructures import MultiDict

from common import db as db_module
from common import media_records, status, web_sessions
from common.clock import utcnow
from common.config import Settings
from common.db import Doc
from common.dispatch import loading
from common.engine import Trigger, execute_once
from common.entrypoints.cli.direct import Direct
from common.entrypoints.runner import run_steps
from common.entrypoints.webapp import app
from common.lock import STATE_ID
from common.media_rules import MediaFacts
from common.model import Post
from common.operations import creating, planning, scheduling, series
from common.operations.admission import Admission
from common.operations.series_split import SeriesChanges
from common.platforms.base import Outcome, Permanent
from common.posts import listing
from common.slots import WEEKDAYS, Schedule
from common.tasks import PostTask
from tests.conftest import add_account, add_post, left_by_a_dead_runner
from tests.query_shapes import CommandRecorder, Query, problems, queries, serving_index
from tests.recording import LOG, registry_for
from tests.web_support import page_in_process

MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def recording_client(mongo_uri: str) -> Iterator[tuple[MongoClient[Doc], CommandRecorder]]:
    """One client for the module whose every command is recorded (a client per test costs its
    handshake and monitor thread, more than some of the tests)."""
    recorder = CommandRecorder()
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[recorder])
    client.admin.command("ping")
    yield client, recorder
    client.close()


@pytest.fixture
def recorded(
    recording_client: tuple[MongoClient[Doc], CommandRecorder], db: Database[Doc]
) -> tuple[Database[Doc], CommandRecorder]:
    """The test's database through the recording client, nothing recorded yet."""
    client, recorder = recording_client
    recorder.clear()
    return client[db.name], recorder


def _served(recorder: CommandRecorder) -> list[tuple[str, str, str | None]]:
    # platform_log belongs to the recording publisher (the tests' stand-in platform).
    return [(q.command, q.collection, serving_index(q)) for q in queries(recorder.commands, {LOG})]


def test_every_command_of_an_empty_tick_is_served_by_an_index(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    listened, recorder = recorded
    add_account(db, "a")
    add_post(db, "a", utcnow() + timedelta(hours=1))
    steps = run_steps(settings)  # the deployed runs' upkeep: one query for due series
    execute_once(settings, Trigger("tick", "m-1"), registry_for(db), db=listened, steps=steps)
    assert _served(recorder) == [
        ("findAndModify", "scheduler_state", "_id_"),
        ("find", "series", "materialiseAt"),
        ("find", "posts", "status_dueAt_id"),
        ("find", "posts", "status_leaseExpiresAt"),
        ("find", "posts", "status_dueAt_id"),
        ("update", "scheduler_state", "_id_"),
    ]


class _Queue:
    """Tasks kept in memory (the loader's Enqueuer)."""

    def __init__(self) -> None:
        self.made: list[PostTask] = []

    def name_of(self, task: PostTask) -> str:
        return task.task_id

    def enqueue(self, task: PostTask) -> bool:
        self.made.append(task)
        return True


def test_every_command_of_a_tasks_tick_is_served_by_an_index_and_an_idle_one_costs_two(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    listened, recorder = recorded
    add_account(db, "a")
    tasks_settings = replace(settings, dispatch="tasks", tasks_horizon_seconds=900)
    dispatch = loading.TaskLoading(_Queue(), tasks_settings)
    dispatch.prepare(listened, utcnow())
    # Nothing finished, nothing due: what tasks left to count, what is due within the horizon.
    assert _served(recorder) == [
        ("find", "posts", "uncounted_at"),
        ("find", "posts", "status_dueAt_id"),
    ]
    recorder.clear()
    finished = add_post(db, "a", utcnow() - MINUTE)
    db["posts"].update_one(
        {"_id": finished},
        {"$set": {"status": "published", "uncounted": {"outcome": "published", "at": utcnow()}}},
    )
    add_post(db, "a", utcnow() + MINUTE)
    dispatch.prepare(listened, utcnow())
    assert problems(queries(recorder.commands, {LOG})) == []
    assert [(c, coll) for c, coll, _ in _served(recorder)] == [
        ("find", "posts"),
        ("update", "posts"),
        ("update", "hourly_stats"),
        ("update", "scheduler_state"),
        ("find", "posts"),  # due within the horizon
        ("find", "posts"),  # the chains of their accounts (common.dispatch.chains)
        ("update", "posts"),
    ]


def _refuse_text(text: str) -> object:
    def script(post: Post) -> Outcome | None:
        return Permanent("validation", "refused") if post.content.text == text else None

    return script


def test_every_command_of_a_busy_tick_is_served_by_an_index(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    listened, recorder = recorded
    for account in ("a", "b", "c"):
        add_account(db, account)
        for n in range(3):
            add_post(db, account, utcnow() - MINUTE * (n + 1), text=f"{account}{n}")
    left_by_a_dead_runner(db, add_post(db, "a", utcnow() - MINUTE * 9))
    add_post(db, "b", utcnow() + timedelta(hours=2))
    registry = registry_for(db, script=_refuse_text("c0"))
    summary = execute_once(settings, Trigger("tick", "m-1"), registry, db=listened)
    # The dead runner's post is looked up (its send may have happened), not found: unknown.
    counts = summary.counts
    assert (counts.published, counts.failed, counts.unknown) == (8, 1, 1)
    assert problems(queries(recorder.commands, {LOG})) == []
    collections = {q.collection for q in queries(recorder.commands, {LOG})}
    assert collections == {"scheduler_state", "posts", "accounts", "hourly_stats"}


_STATUS_READS = [
    ("aggregate", "posts", "status_dueAt_id"),
    ("aggregate", "posts", "status_dueAt_id"),
    ("aggregate", "hourly_stats", "_id_"),
    ("aggregate", "accounts", "platform_status"),
]


def test_every_read_of_a_status_report_is_served_by_an_index(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    """One command: the state document with the four reads as $lookups, each its own query."""
    listened, recorder = recorded
    add_account(db, "a")
    add_post(db, "a", utcnow() - MINUTE)
    db["scheduler_state"].insert_one({"_id": STATE_ID, "lastRunAt": utcnow()})
    status.report(settings, listened, utcnow())
    assert len(recorder.commands) == 1
    assert _served(recorder) == [("aggregate", "scheduler_state", "_id_"), *_STATUS_READS]
    assert problems(queries(recorder.commands)) == []


def test_before_the_first_run_the_status_reads_are_served_by_an_index_on_their_own(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    listened, recorder = recorded
    add_account(db, "a")
    add_post(db, "a", utcnow() - MINUTE)
    status.report(settings, listened, utcnow())
    assert _served(recorder) == [
        ("aggregate", "scheduler_state", "_id_"),
        *_STATUS_READS,  # the $lookups, which found no state document to join
        *_STATUS_READS,
    ]
    assert problems(queries(recorder.commands)) == []


def test_the_rule_refuses_a_facet_and_a_filter_without_an_index_prefix() -> None:
    """The shapes this issue removed: the old snapshot's $facet and a scan by publishedAt."""
    facet = Query("aggregate", "posts", {"status": {"$in": ["scheduled"]}}, None, ({"$facet": {}},))
    by_published = Query("find", "posts", {"publishedAt": {"$gte": utcnow()}})
    whole_collection = Query("aggregate", "posts", {}, None, ({"$group": {"_id": "$status"}},))
    wrong_sort = Query("find", "posts", {"status": "scheduled"}, {"updatedAt": 1})
    assert len(problems([facet, by_published, whole_collection, wrong_sort])) == 5
    assert serving_index(
        Query("find", "posts", {"status": "x", "dueAt": {"$lte": 1}}, {"dueAt": 1})
    )


def test_the_rule_refuses_a_group_over_the_open_queue_that_no_limit_bounds() -> None:
    """The status report's old queue figures: one $group over every open post."""
    match = {"status": {"$in": ["scheduled", "publishing", "failed", "unknown"]}}
    group = {"$group": {"_id": "$status", "n": {"$sum": 1}}}
    every_open_post = Query("aggregate", "posts", match, None, (group,))
    capped = Query(
        "aggregate", "posts", match, {"dueAt": 1}, ({"$sort": {"dueAt": 1}}, {"$limit": 10}, group)
    )
    accounts = Query("aggregate", "accounts", {"platform": {"$in": ["x"]}}, None, (group,))
    assert problems([every_open_post]) == [
        "$group on posts without a $limit: reads the whole range"
    ]
    assert problems([capped, accounts]) == []


@pytest.mark.parametrize(
    "where",
    [
        listing.PostFilter(),
        listing.PostFilter(status="published"),
        listing.PostFilter(account_id="a"),
        listing.PostFilter(accounts_allowed=("a", "b"), status="scheduled"),
        listing.PostFilter(due_after=utcnow() - timedelta(days=1), due_before=utcnow()),
    ],
)
def test_every_page_of_an_api_list_is_served_by_an_index(
    db: Database[Doc], recorded: tuple[Database[Doc], CommandRecorder], where: listing.PostFilter
) -> None:
    listened, recorder = recorded
    add_account(db, "a")
    for n in range(5):
        add_post(db, "a", utcnow() - MINUTE * n)
    first = listing.list_page(listened, where, None, 2)
    if first.after is not None:
        listing.list_page(listened, where, first.after, 2)  # the next page, after a cursor
    found = queries(recorder.commands)
    assert found and problems(found) == []


def _page_queries(
    db: Database[Doc],
    settings: Settings,
    recorded: tuple[Database[Doc], CommandRecorder],
    path: str,
    *,
    query: dict[str, str] | None = None,
    form: list[tuple[str, str]] | None = None,
) -> tuple[Response, list[Query]]:
    """One web page shown to an admin through the recording client (with `form`: that form
    posted, with the session's CSRF token), and its queries."""
    listened, recorder = recorded
    token, session = web_sessions.start(db, "admin_key", "admin", utcnow(), timedelta(hours=1))
    service = app.build_service(settings, listened)
    posted = None if form is None else MultiDict([*form, ("csrf", session.csrf)])
    recorder.clear()
    page = page_in_process(service, path, token, posted, **(query or {}))
    return page, queries(recorder.commands)


@pytest.mark.parametrize("filters", [{}, {"status": "scheduled"}, {"account": "a"}])
def test_every_command_of_a_calendar_month_is_served_by_an_index(
    db: Database[Doc],
    settings: Settings,
    recorded: tuple[Database[Doc], CommandRecorder],
    filters: dict[str, str],
) -> None:
    add_account(db, "a")
    for n in range(5):
        add_post(db, "a", utcnow() + timedelta(days=n))
    page, found = _page_queries(db, settings, recorded, "/calendar", query=filters)
    assert page.status_code == 200
    assert [(q.command, q.collection) for q in found] == [
        ("find", "web_sessions"),
        ("find", "posts"),
        ("find", "accounts"),
    ]
    assert problems(found) == []


def test_every_command_of_the_approvals_queue_is_served_by_an_index(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    add_account(db, "a")
    for n in range(5):
        post_id = add_post(db, "a", utcnow() + timedelta(days=n))
        if n % 2:
            db["posts"].update_one({"_id": post_id}, {"$set": {"status": "pending_approval"}})
    page, found = _page_queries(db, settings, recorded, "/approvals")
    assert page.status_code == 200
    assert [(q.command, q.collection) for q in found] == [
        ("find", "web_sessions"),
        ("find", "posts"),
        ("find", "accounts"),
    ]
    assert problems(found) == []


def test_a_composer_form_shown_again_reads_the_accounts_once(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    """Refused (a series is for one account), the form comes back with its counters and
    previews for the accounts chosen, found in the one list of accounts the page shows."""
    add_account(db, "a")
    add_account(db, "b", platform="bluesky")
    form = [("accounts", "a"), ("accounts", "b"), ("text", "hi"), ("action", "repeat")]
    page, found = _page_queries(db, settings, recorded, "/compose", form=form)
    shown = page.get_data(as_text=True)
    assert page.status_code == 422 and "one account at a time" in shown
    assert 'data-platform="bluesky">bluesky: 2 / 300 graphemes' in shown
    assert [(q.command, q.collection) for q in found] == [
        ("find", "web_sessions"),
        ("find", "accounts"),
    ]


def test_every_declared_index_has_its_own_name() -> None:
    for collection, specs in db_module.INDEXES.items():
        names = [spec.name for spec in specs]
        assert len(names) == len(set(names)), (collection, names)


def test_a_single_create_reads_its_account_and_neighbours_in_one_indexed_command(
    db: Database[Doc], recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    listened, recorder = recorded
    add_account(db, "a")
    due = utcnow() + timedelta(hours=1)
    add_post(db, "a", due)
    request = scheduling.PostRequest("a", due.isoformat(), text="hello", idempotency_key="k")
    result = creating.schedule_one(listened, request, utcnow(), Admission(timedelta(hours=1)))
    assert isinstance(result, scheduling.Scheduled)
    assert [next(iter(c)) for c in recorder.commands] == ["aggregate", "insert"]
    found = queries(recorder.commands)
    assert [(q.command, q.collection) for q in found] == [
        ("aggregate", "accounts"),
        ("aggregate", "posts"),  # the $lookup of the neighbours, inside the same command
    ]
    assert problems(found) == []


def test_a_create_with_uploaded_media_reads_its_account_once(
    db: Database[Doc], recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    """The item is checked against the account read with the neighbours (its network, a
    Mastodon instance's own limits), not read again for the media."""
    listened, recorder = recorded
    add_account(db, "a")
    item, _ = media_records.find_or_create(
        db,
        owner="operator",
        account_ids=["a"],
        platforms=["facebook"],
        sha256="0" * 64,
        declared_type="image/jpeg",
        declared_bytes=1000,
        filename=None,
        now=utcnow(),
    )
    facts = MediaFacts("image/jpeg", 1000, 1080, 1080)
    media_records.settle_upload(db, item.id, facts=facts, problems=(), variants={}, now=utcnow())
    due = (utcnow() + timedelta(hours=1)).isoformat()
    request = scheduling.PostRequest("a", due, text="hello", media=[{"mediaId": item.id}])
    result = creating.schedule_one(listened, request, utcnow(), Admission(timedelta(hours=1)))
    assert isinstance(result, scheduling.Scheduled)
    assert [(q.command, q.collection) for q in queries(recorder.commands)] == [
        ("aggregate", "accounts"),
        ("aggregate", "posts"),  # the $lookup of the neighbours, inside the same command
        ("find", "media"),
        ("update", "media"),  # the items' retention counts from now
    ]
    assert [next(iter(c)) for c in recorder.commands][-1] == "insert"


def test_a_queued_create_reads_the_slots_and_the_times_taken_in_one_indexed_command(
    db: Database[Doc], recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    listened, recorder = recorded
    add_account(db, "a")
    every_day = [f"{day}@09:00" for day in WEEKDAYS]
    made = planning.set_posting_slots(db, "a", "Europe/Berlin", every_day, utcnow())
    assert isinstance(made, Schedule)
    request = scheduling.PostRequest("a", scheduling.QUEUE, text="hello")
    result = creating.schedule_one(listened, request, utcnow(), Admission(timedelta(hours=1)))
    assert isinstance(result, scheduling.Scheduled)
    assert [next(iter(c)) for c in recorder.commands] == ["aggregate", "aggregate", "insert"]
    found = queries(recorder.commands)
    assert [(q.command, q.collection) for q in found] == [
        ("aggregate", "accounts"),  # the slots,
        ("aggregate", "posts"),  # and the times taken, a $lookup inside the same command
        ("aggregate", "accounts"),
        ("aggregate", "posts"),  # the neighbours at the slot found
    ]
    assert problems(found) == []


def test_a_batch_reads_its_accounts_and_neighbours_in_one_command_then_stages_its_posts(
    db: Database[Doc], recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    listened, recorder = recorded
    add_account(db, "a")
    add_account(db, "b")
    due = utcnow() + timedelta(hours=1)
    add_post(db, "a", due)
    items = [
        scheduling.PostRequest(account, due.isoformat(), text="hello", idempotency_key="k", item=n)
        for n, account in enumerate(["a", "b"])
    ]
    result = creating.schedule(listened, items, utcnow(), Admission(timedelta(hours=1)))
    assert isinstance(result, creating.BatchScheduled) and result.created == 2
    # The accounts and their neighbours (for the likeness warning), the keys made before, the
    # staged posts, and their activation together.
    assert [next(iter(c)) for c in recorder.commands] == ["aggregate", "find", "insert", "update"]
    made = [r for r in result.results if isinstance(r, scheduling.Scheduled)]
    assert [len(r.looks_like) for r in made] == [1, 0]
    assert problems(queries(recorder.commands)) == []


def test_a_composed_post_with_follow_ups_reads_its_accounts_once_to_check_them_all(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    """Every item and its follow-ups checked before any is stored, from one read of the
    accounts (and their neighbours); then each post stored on its own, under its own key."""
    add_account(db, "a")
    add_account(db, "b", platform="bluesky")
    due = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    form = [("accounts", "a"), ("accounts", "b"), ("text", "hi"), ("firstComment", "more")]
    when = [("scheduledAt", due), ("timeZone", "UTC")]
    page, found = _page_queries(db, settings, recorded, "/compose", form=[*form, *when])
    assert page.status_code == 303
    assert db["posts"].count_documents({}) == 4  # two posts, each with its first comment
    checked_together = [("aggregate", "accounts"), ("aggregate", "posts")]
    stored_one_by_one = checked_together * 2
    assert [(q.command, q.collection) for q in found] == [
        ("find", "web_sessions"),
        *checked_together,
        *stored_one_by_one,
    ]
    assert problems(found) == []


def test_an_edit_of_a_series_from_the_cli_reads_the_series_once(
    db: Database[Doc], settings: Settings, recorded: tuple[Database[Doc], CommandRecorder]
) -> None:
    """The series is found by its id (the caller's own check), and that read is the one the
    edit works from; its account is read to check the new template."""
    listened, recorder = recorded
    add_account(db, "a")
    template = scheduling.PostRequest("a", "2027-01-01T09:00:00", "Europe/Berlin", text="hi")
    made = series.create_series(db, template, "FREQ=DAILY;COUNT=5", utcnow())
    assert isinstance(made, ObjectId)
    backend = Direct()
    backend.__dict__.update(settings=settings, db=listened)  # its cached settings and database
    recorder.clear()
    split = backend.edit_series(str(made), SeriesChanges(text="hello"), None)
    assert split["successorId"] != str(made)
    assert [(q.command, q.collection) for q in queries(recorder.commands)] == [
        ("find", "series"),
        ("find", "accounts"),
        ("update", "series"),
    ]
