"""The tick's side of DISPATCH=tasks: load Cloud Tasks for the posts due soon.

The tick (under the execution lock) creates one task per `scheduled` post due within
TASKS_HORIZON_SECONDS whose current version and due time have no task recorded yet; posts
overdue by more than TASKS_SWEEP_AFTER_SECONDS (their task is lost, failed or late) stay with
the tick, which publishes them inline like DISPATCH=inline does. `TaskLoading` is the strategy
the runner hands the engine (common.engine.Dispatch); the publish function's side is
common.dispatch.work.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bson import ObjectId
from pymongo.database import Database

from common import lock, posts, stats
from common.config import Settings
from common.db import Doc
from common.posts import Upcoming
from common.tasks import PostTask

log = logging.getLogger(__name__)
# Creates go out in parallel: each is one HTTPS round trip to Cloud Tasks.
ENQUEUE_THREADS = 32
# Tasks created per tick at most (in parallel); the rest wait for the next tick.
TASKS_LOAD_LIMIT = 20_000
# Finished posts a tick counts into the status figures at most; the rest wait for the next.
COUNT_LIMIT = 20_000


class Enqueuer(Protocol):
    """common.tasks.TaskQueue, as the dispatch code uses it."""

    def name_of(self, task: PostTask) -> str: ...

    def enqueue(self, task: PostTask) -> bool: ...


@dataclass(frozen=True)
class Loaded:
    created: int = 0
    already_there: int = 0
    failed: int = 0
    chained: int = 0  # recorded, their tasks to be created by their account's previous post


def sweep_before(settings: Settings, now: datetime) -> datetime:
    """Posts due before this are the tick's to publish inline: their task did not happen."""
    return now - timedelta(seconds=settings.tasks_sweep_after_seconds)


def load_upcoming(
    db: Database[Doc], queue: Enqueuer, settings: Settings, now: datetime, limit: int
) -> Loaded:
    """Create the tasks of posts due within the horizon that have none for their version and
    due time, and record them on the posts. Failures are left for the next tick.

    Per-account order: of the posts of one account loaded together, only the first gets its
    task now; each post's record names the next one (`then`), whose task the publish function
    creates once this one is done. So an account's posts go out one after another in due order,
    as one worker publishes them in a run, and never two at once. If a link is lost (an
    instance died between the settle and the create), the post left behind is overdue after
    TASKS_SWEEP_AFTER_SECONDS and the tick publishes it inline, with the rest of the chain."""
    horizon = now + timedelta(seconds=settings.tasks_horizon_seconds)
    candidates = posts.upcoming(db, sweep_before(settings, now), horizon, limit)
    unrecorded = [p for p in candidates if not p.task_recorded]
    # Edited in place: the older version's task (or chain link) hands its turn to this version
    # when it comes (TaskWork), so the task is not created here, only recorded with its link.
    in_place = [p for p in unrecorded if p.in_place]
    todo = [p for p in unrecorded if not p.in_place]
    posts.record_tasks(db, [(p, queue.name_of(task_of(p))) for p in in_place], now)
    if not todo:
        return Loaded(chained=len(in_place))
    chains = _chains(todo)
    # A post moved by an edit leaves its chain: the account's next post gets its task now.
    left_behind = [p.left_behind for p in todo if p.left_behind is not None]
    with ThreadPoolExecutor(min(ENQUEUE_THREADS, len(chains.heads))) as pool:
        results = list(pool.map(lambda p: enqueue(queue, p), chains.heads))
        restarted = list(pool.map(lambda p: enqueue(queue, p), left_behind))
    enqueued = {p.id for p, r in zip(chains.heads, results, strict=True) if r}
    # A chain is recorded only when its first task exists; otherwise the next tick retries it.
    done = [(p, queue.name_of(task_of(p))) for p in todo if chains.head_of[p.id] in enqueued]
    posts.record_tasks(db, done, now, chains.then)
    return Loaded(
        created=results.count("created") + restarted.count("created"),
        already_there=results.count("already_there"),
        failed=results.count(None),
        chained=len(done) - len(enqueued) + len(in_place),
    )


@dataclass(frozen=True)
class _Chains:
    heads: list[Upcoming]  # each account's first post: its task is created now
    then: dict[ObjectId, Upcoming]  # a post's next post of the same account
    head_of: dict[ObjectId, ObjectId]  # a post's chain, by its first post


def _chains(todo: list[Upcoming]) -> _Chains:
    """Per account, in due order (`todo` is sorted by dueAt)."""
    chains = _Chains([], {}, {})
    last: dict[str, Upcoming] = {}
    for post in todo:
        before = last.get(post.account_id)
        if before is None:
            chains.heads.append(post)
            chains.head_of[post.id] = post.id
        else:
            chains.then[before.id] = post
            chains.head_of[post.id] = chains.head_of[before.id]
        last[post.account_id] = post
    return chains


def task_of(post: Upcoming) -> PostTask:
    return PostTask.of(post.id, post.version, post.due_at)


def enqueue(queue: Enqueuer, post: Upcoming) -> str | None:
    """Create the post's task: "created", "already_there" (its name exists), or None (failed)."""
    try:
        return "created" if queue.enqueue(task_of(post)) else "already_there"
    except Exception as exc:  # a queue error must not stop the tick: the next one retries
        log.warning("task not created", extra={"postId": str(post.id), "error": type(exc).__name__})
        return None


class TaskLoading:
    """The run's dispatch strategy for DISPATCH=tasks: before claiming, hand the posts due
    within the horizon to their tasks; the run itself then takes only what their tasks missed
    (overdue beyond the sweep) and posts whose runner died."""

    def __init__(self, queue: Enqueuer, settings: Settings) -> None:
        self._queue = queue
        self._settings = settings

    def prepare(self, db: Database[Doc], now: datetime) -> datetime:
        """Count what tasks finished and load the tasks; the due time up to which the run
        claims posts itself."""
        count_finished(db, now)
        loaded = load_upcoming(db, self._queue, self._settings, now, TASKS_LOAD_LIMIT)
        if loaded.created or loaded.already_there or loaded.failed:
            log.info(
                "tasks loaded",
                extra={
                    "tasksCreated": loaded.created,
                    "tasksAlreadyThere": loaded.already_there,
                    "tasksFailed": loaded.failed,
                    "tasksChained": loaded.chained,
                },
            )
        return sweep_before(self._settings, now)


def count_finished(db: Database[Doc], now: datetime) -> int:
    """Add the posts tasks finished since the last tick to the status figures (the hourly
    counts and the totals): one command when there are none, four otherwise, per tick rather
    than two writes per task. So the figures lag by at most one tick in tasks mode."""
    tally = stats.FinishedTally()
    counted = posts.take_uncounted(db, tally, now, COUNT_LIMIT)
    written = tally.write(db)
    if written["published"] or written["failed"]:
        lock.add_task_outcome(db, published=written["published"], failed=written["failed"])
    return counted


class PromptTasks:
    """A post created or edited with a due time before the next tick gets its task at once,
    not at that tick (up to a tick late). The task has the name the tick would give it, so the
    tick's own create is a no-op; a later post is left to the ticks, which load it in time."""

    def __init__(self, queue: Enqueuer, tick_seconds: int) -> None:
        self._queue = queue
        self._soon = timedelta(seconds=tick_seconds)

    def post_written(
        self, db: Database[Doc], post_id: ObjectId, due_at: datetime, now: datetime
    ) -> None:
        if due_at > now + self._soon:
            return
        post = posts.upcoming_post(db, post_id)
        if post is None or post.task_recorded:
            return
        name = self._queue.name_of(task_of(post))
        if post.in_place:  # its older version's turn passes to it (load_upcoming)
            posts.record_tasks(db, [(post, name)], now)
            return
        if post.left_behind is not None:
            enqueue(self._queue, post.left_behind)
        if enqueue(self._queue, post) is not None:
            posts.record_tasks(db, [(post, name)], now)
