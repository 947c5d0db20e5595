"""DISPATCH=tasks: the tick loads Cloud Tasks; the publish function does one task's post.

The tick (under the execution lock) creates one task per `scheduled` post due within
TASKS_HORIZON_SECONDS whose current version and due time have no task recorded yet; posts
overdue by more than TASKS_SWEEP_AFTER_SECONDS (their task is lost, failed or late) stay with
the tick, which publishes them inline like DISPATCH=inline does. The publish function claims
the one post its task names under a lease and runs the same per-post work (PostWork, decide,
settle) as a run's worker thread. MongoDB decides: a duplicate, late or stale task claims
nothing and is answered 2xx, so Cloud Tasks drops it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bson import ObjectId
from pymongo.database import Database

from common import accounts, lock, logs, posts
from common.config import Settings
from common.db import Doc
from common.events import EventSink
from common.platforms.base import Registry
from common.posts import LeaseTerms, Upcoming
from common.publishing import PostWork
from common.tasks import PostTask
from common.transitions import AccountSeen, Rules

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# Creates go out in parallel: each is one HTTPS round trip to Cloud Tasks.
ENQUEUE_THREADS = 16


class Enqueuer(Protocol):
    """common.tasks.TaskQueue, as the dispatch code uses it."""

    def name_of(self, task: PostTask) -> str: ...

    def enqueue(self, task: PostTask) -> bool: ...


@dataclass(frozen=True)
class Loaded:
    created: int = 0
    already_there: int = 0
    failed: int = 0


def sweep_before(settings: Settings, now: datetime) -> datetime:
    """Posts due before this are the tick's to publish inline: their task did not happen."""
    return now - timedelta(seconds=settings.tasks_sweep_after_seconds)


def load_upcoming(
    db: Database[Doc], queue: Enqueuer, settings: Settings, now: datetime, limit: int
) -> Loaded:
    """Create the tasks of posts due within the horizon that have none for their version and
    due time, and record them on the posts. Failures are left for the next tick."""
    horizon = now + timedelta(seconds=settings.tasks_horizon_seconds)
    candidates = posts.upcoming(db, sweep_before(settings, now), horizon, limit)
    todo = [p for p in candidates if not p.task_recorded]
    if not todo:
        return Loaded()
    with ThreadPoolExecutor(min(ENQUEUE_THREADS, len(todo))) as pool:
        results = list(pool.map(lambda p: _enqueue(queue, p), todo))
    done = [(p, queue.name_of(_task_of(p))) for p, r in zip(todo, results, strict=True) if r]
    posts.record_tasks(db, done, now)
    return Loaded(
        created=results.count("created"),
        already_there=results.count("already_there"),
        failed=results.count(None),
    )


def _task_of(post: Upcoming) -> PostTask:
    return PostTask.of(post.id, post.version, post.due_at)


def _enqueue(queue: Enqueuer, post: Upcoming) -> str | None:
    try:
        return "created" if queue.enqueue(_task_of(post)) else "already_there"
    except Exception as exc:  # a queue error must not stop the tick: the next one retries
        log.warning("task not created", extra={"postId": str(post.id), "error": type(exc).__name__})
        return None


@dataclass(frozen=True)
class TaskAnswer:
    """What the publish function tells Cloud Tasks: any 2xx ends the task, 503 retries it."""

    status: int
    outcome: str


class TaskWork:
    """One task's post: claim it by id, version and due time, publish it, settle it."""

    def __init__(
        self,
        db: Database[Doc],
        registry: Registry,
        settings: Settings,
        queue: Enqueuer,
        events: EventSink,
        clock: Clock,
    ) -> None:
        self._db = db
        self._settings = settings
        self._queue = queue
        self._clock = clock
        self._work = PostWork(db, registry, Rules.from_settings(settings), events, clock)

    def handle(self, task: PostTask) -> TaskAnswer:
        started = time.monotonic()
        budget = self._settings.run_budget_seconds
        terms = LeaseTerms(
            run_id=f"task-{uuid.uuid4().hex}",
            fence=0,  # a task holds no execution lock: its lease alone guards the post
            ttl=timedelta(seconds=self._settings.lock_ttl_seconds),
            clock=self._clock,
            seconds_left=lambda: budget - (time.monotonic() - started),
        )
        post_id = ObjectId(task.post_id)
        with logs.fields(runId=terms.run_id, postId=task.post_id):
            claimed = posts.claim_for_task(self._db, post_id, task.version, task.due_at, terms)
            if claimed is None:
                return self._not_claimed(post_id, task)
            account = accounts.get(self._db, claimed.post.account_id)
            result = self._work.publish(claimed, account, AccountSeen())
            if result.due_again_at is not None:
                self._enqueue_next(claimed.post.id, claimed.post.version, result.due_again_at)
            if result.kind in ("published", "failed"):
                published = int(result.kind == "published")
                lock.add_task_outcome(self._db, published=published, failed=1 - published)
            return TaskAnswer(200, result.kind or "lease_lost")

    def _not_claimed(self, post_id: ObjectId, task: PostTask) -> TaskAnswer:
        post = posts.get(self._db, post_id)
        if post is not None and post.status == "publishing" and post.version == task.version:
            # Another claimer holds a live lease (a duplicate delivery, or the tick's sweep):
            # let Cloud Tasks ask again; once that claimer is done this answers 2xx, and if it
            # died, its lease expires and a retry takes the post over.
            return TaskAnswer(503, "in_progress")
        # Gone, canceled, published, edited or moved: this task is stale. Done.
        return TaskAnswer(200, "stale")

    def _enqueue_next(self, post_id: ObjectId, version: int, due_at: datetime) -> None:
        upcoming = Upcoming(post_id, version, due_at, task_recorded=False)
        if _enqueue(self._queue, upcoming) is not None:
            name = self._queue.name_of(_task_of(upcoming))
            posts.record_tasks(self._db, [(upcoming, name)], self._clock())
