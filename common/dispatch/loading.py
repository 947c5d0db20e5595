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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bson import ObjectId
from pymongo.database import Database

from common import lock, stats
from common.config import Settings
from common.db import Doc
from common.dispatch import chains
from common.posts import tasks
from common.posts.tasks import Upcoming, released_follow_ups
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
    creates once this one is done; a post due after one of its account's posts already in a
    chain is linked in after it (common.dispatch.chains). So an account's posts go out one
    after another in due order, as one worker publishes them in a run, and never two at once.
    If a link is lost (an instance died between the settle and the create), the post left
    behind is overdue after TASKS_SWEEP_AFTER_SECONDS and the tick publishes it inline, with
    the rest of the chain."""
    horizon = now + timedelta(seconds=settings.tasks_horizon_seconds)
    after = sweep_before(settings, now)
    candidates = tasks.upcoming(db, after, horizon, limit)
    unrecorded = [p for p in candidates if not p.task_recorded]
    return start(db, queue, unrecorded, after, now)


def start(
    db: Database[Doc], queue: Enqueuer, unrecorded: list[Upcoming], after: datetime, now: datetime
) -> Loaded:
    """Give these posts (oldest first, none with a task for its version and due time) their
    places in their accounts' chains: a task now, or a link from the post before them.
    Commands: a record of the in-place edits, the chains of their accounts (one find), one
    update per run of posts linked into a chain, the tasks (in parallel), one record."""
    # Edited in place: the older version's task (or chain link) hands its turn to this version
    # when it comes (TaskWork), so the task is not created here, only recorded.
    in_place = [p for p in unrecorded if p.in_place]
    todo = [p for p in unrecorded if not p.in_place]
    tasks.record_tasks(db, [(p, queue.name_of(task_of(p))) for p in in_place], now)
    if not todo:
        return Loaded(chained=len(in_place))
    accounts = sorted({p.account_id for p in todo})
    plan = chains.plan(todo, tasks.in_chains(db, accounts, after, todo[-1].due_at))
    # A run is recorded before it is linked in: the post it follows may finish at once and
    # hand it the turn, and its task must then find the run's links.
    linking = [run for run in plan.runs if run.after is not None]
    recorded = [p for p in todo if plan.run_of[p.id].after is not None]
    tasks.record_tasks(db, [(p, queue.name_of(task_of(p))) for p in recorded], now, plan.then)
    with ThreadPoolExecutor(ENQUEUE_THREADS) as pool:
        linked = list(pool.map(lambda r: _link(db, r), linking))
        for run, ok in zip(linking, linked, strict=True):
            if not ok:  # it starts on its own, below (if that fails too, the sweep takes it)
                plan.detach(run)
        heads = [run.first for run in plan.runs if run.after is None]
        # A post moved by an edit leaves its chain: the account's next post gets its task now.
        left_behind = [p.left_behind for p in todo if p.left_behind is not None]
        results = list(pool.map(lambda p: enqueue(queue, p), heads))
        restarted = list(pool.map(lambda p: enqueue(queue, p), left_behind))
    enqueued = {p.id for p, r in zip(heads, results, strict=True) if r}
    # A chain of its own is recorded only when its first task exists; otherwise the next tick
    # retries it.
    started = [p for p in todo if plan.run_of[p.id].first.id in enqueued]
    tasks.record_tasks(db, [(p, queue.name_of(task_of(p))) for p in started], now, plan.then)
    linked_in = [p for p in recorded if plan.run_of[p.id].after is not None]  # still linked
    placed = len(started) + len(linked_in)
    return Loaded(
        created=results.count("created") + restarted.count("created"),
        already_there=results.count("already_there"),
        failed=results.count(None),
        chained=placed - len(enqueued) + len(in_place),
    )


def _link(db: Database[Doc], run: chains.Run) -> bool:
    assert run.after is not None
    return tasks.link_after(db, run.after, run.first)


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
    counted = tasks.take_uncounted(db, tally, now, COUNT_LIMIT)
    written = tally.write(db)
    if written["published"] or written["failed"]:
        lock.add_task_outcome(db, published=written["published"], failed=written["failed"])
    return counted


class PromptTasks:
    """Posts created or edited with a due time before the next tick get their tasks (or their
    places in their accounts' chains) at once, not at that tick (up to a tick late). A task has
    the name the tick would give it, so the tick's own create is a no-op; later posts are left
    to the ticks, which load them in time. A batch (an API batch, a CSV import) costs the same
    few commands as one post, and its tasks are created in parallel."""

    def __init__(self, queue: Enqueuer, settings: Settings) -> None:
        self._queue = queue
        self._settings = settings

    def post_written(
        self, db: Database[Doc], post_id: ObjectId, due_at: datetime, now: datetime
    ) -> None:
        self.posts_written(db, [(post_id, due_at)], now)

    def posts_written(
        self, db: Database[Doc], written: Sequence[tuple[ObjectId, datetime]], now: datetime
    ) -> None:
        soon = now + timedelta(seconds=self._settings.tick_interval_seconds)
        ids = [post_id for post_id, due_at in written if due_at <= soon]
        if not ids:
            return
        self._start(db, tasks.upcoming_posts(db, ids), now)

    def follow_ups_released(self, db: Database[Doc], parent_id: ObjectId, now: datetime) -> None:
        """A post's publication released its follow-ups (due now): a thread's next part goes
        out as soon as its parent is out, not at the next tick."""
        self._start(db, released_follow_ups(db, parent_id), now)

    def _start(self, db: Database[Doc], found: Sequence[Upcoming], now: datetime) -> None:
        unrecorded = [p for p in found if not p.task_recorded]
        if unrecorded:
            start(db, self._queue, unrecorded, sweep_before(self._settings, now), now)
