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
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bson import ObjectId
from pymongo.database import Database

from common import accounts, lock, logs, posts, stats
from common.accounts import Account
from common.config import Settings
from common.db import Doc
from common.events import EventSink
from common.media_links import MediaLinks
from common.platforms.base import Registry
from common.posts import ClaimedPost, LeaseTerms, Upcoming
from common.publishing import PostWork
from common.tasks import PostTask
from common.transitions import AccountSeen, Rules

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# Creates go out in parallel: each is one HTTPS round trip to Cloud Tasks.
ENQUEUE_THREADS = 32
# How long a publish instance sends on an account it read without reading it again
# (AccountCache); well under a run's budget, for which a run trusts the accounts it read.
ACCOUNT_CACHE_SECONDS = 60.0
# While tasks keep an instance busy, its status figures are written at most this often (Figures).
FIGURES_WRITE_SECONDS = 5.0
# A task delivered more than this before its post's due time is answered "not yet" (503, so
# Cloud Tasks delivers it again): the delivery time is Cloud Tasks', the due time is ours.
EARLY_TOLERANCE_SECONDS = 1.0


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
    posts.record_tasks(db, [(p, queue.name_of(_task_of(p))) for p in in_place], now)
    if not todo:
        return Loaded(chained=len(in_place))
    chains = _chains(todo)
    # A post moved by an edit leaves its chain: the account's next post gets its task now.
    left_behind = [p.left_behind for p in todo if p.left_behind is not None]
    with ThreadPoolExecutor(min(ENQUEUE_THREADS, len(chains.heads))) as pool:
        results = list(pool.map(lambda p: _enqueue(queue, p), chains.heads))
        restarted = list(pool.map(lambda p: _enqueue(queue, p), left_behind))
    enqueued = {p.id for p, r in zip(chains.heads, results, strict=True) if r}
    # A chain is recorded only when its first task exists; otherwise the next tick retries it.
    done = [(p, queue.name_of(_task_of(p))) for p in todo if chains.head_of[p.id] in enqueued]
    posts.record_tasks(db, done, now, chains.then)
    return Loaded(
        created=results.count("created") + restarted.count("created"),
        already_there=results.count("already_there"),
        failed=results.count(None),
        chained=len(done) - len(enqueued) + len(in_place),
    )


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
        name = self._queue.name_of(_task_of(post))
        if post.in_place:  # its older version's turn passes to it (load_upcoming)
            posts.record_tasks(db, [(post, name)], now)
            return
        if post.left_behind is not None:
            _enqueue(self._queue, post.left_behind)
        if _enqueue(self._queue, post) is not None:
            posts.record_tasks(db, [(post, name)], now)


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


class AccountCache:
    """The accounts one publish instance read lately, so most tasks of a burst need no read.

    Only an account read as `active` and not paused is kept, for ACCOUNT_CACHE_SECONDS, and an
    account effect the instance applies (a pause, needs_reauth) drops it. Staleness cannot make
    a wrong send, because what can happen to the account meanwhile is caught at the platform:
    - paused by another instance: the platform rate-limited it, and answers this send the same
      way; the post is deferred without spending an attempt and the pause stored again;
    - marked needs_reauth: its token stopped working, so the platform answers AuthExpired and
      the post is held, as a fresh read would have held it;
    - a token refreshed or replaced: the older token still names the same account, or fails as
      above. A run trusts the accounts it read for its whole budget (RUN_BUDGET_SECONDS), so
      this is no weaker than DISPATCH=inline.
    """

    def __init__(self, db: Database[Doc]) -> None:
        self._db = db
        self._kept: dict[str, tuple[float, Account]] = {}
        self._guard = threading.Lock()

    def get(self, account_id: str, now: datetime) -> Account | None:
        with self._guard:
            kept = self._kept.get(account_id)
        if kept is not None and time.monotonic() - kept[0] < ACCOUNT_CACHE_SECONDS:
            return kept[1]
        account = accounts.get(self._db, account_id)
        if account is not None and account.status == "active" and not account.is_paused(now):
            with self._guard:
                self._kept[account_id] = (time.monotonic(), account)
        return account

    def drop(self, account_id: str) -> None:
        with self._guard:
            self._kept.pop(account_id, None)


class Figures:
    """The status figures (hourly counts and totals) of the posts one instance finished,
    counted in memory and written by the last task in flight, or every FIGURES_WRITE_SECONDS
    while tasks keep coming: two writes per post would be a third of a task's commands.

    The posts' own outcomes are written by their settle, never held here. The figures lag by at
    most FIGURES_WRITE_SECONDS under load and are exact whenever the instance is idle; an
    instance that crashes mid-burst loses at most that much of its figures.
    """

    def __init__(self, db: Database[Doc]) -> None:
        self._db = db
        self.tally = stats.FinishedTally()
        self._in_flight = 0
        self._written_at = time.monotonic()
        self._guard = threading.Lock()

    @contextmanager
    def task(self) -> Iterator[None]:
        with self._guard:
            self._in_flight += 1
        try:
            yield
        finally:
            if self._write_now():
                self._write()

    def _write_now(self) -> bool:
        with self._guard:
            self._in_flight -= 1
            idle = self._in_flight == 0
            if idle or time.monotonic() - self._written_at >= FIGURES_WRITE_SECONDS:
                self._written_at = time.monotonic()
                return True
            return False

    def _write(self) -> None:
        written = self.tally.write(self._db)
        if written["published"] or written["failed"]:
            lock.add_task_outcome(
                self._db, published=written["published"], failed=written["failed"]
            )


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
        self._work = PostWork(
            db, registry, Rules.from_settings(settings), events, clock, MediaLinks(settings)
        )
        self._accounts = AccountCache(db)
        self._figures = Figures(db)

    def handle(self, task: PostTask) -> TaskAnswer:
        with self._figures.task():
            return self._handle(task)

    def _handle(self, task: PostTask) -> TaskAnswer:
        early = (task.due_at - self._clock()).total_seconds()
        if early > EARLY_TOLERANCE_SECONDS:
            return TaskAnswer(503, "not_yet")
        started = time.monotonic()
        budget = self._settings.run_budget_seconds
        terms = LeaseTerms(
            run_id=f"task-{uuid.uuid4().hex}",
            fence=0,  # a task holds no execution lock: its lease alone guards the post
            ttl=timedelta(seconds=self._settings.lock_ttl_seconds),
            clock=self._clock,
            seconds_left=lambda: budget - (time.monotonic() - started),
            finished=self._figures.tally,
        )
        post_id = ObjectId(task.post_id)
        with logs.fields(runId=terms.run_id, postId=task.post_id):
            claim = posts.claim_for_task(self._db, post_id, task.version, task.due_at, terms)
            if claim is None:
                return self._not_claimed(post_id, task)
            answer = self._publish(claim.claimed)
            self._chain(claim.then)
            return answer

    def _publish(self, claimed: ClaimedPost) -> TaskAnswer:
        account_id = claimed.post.account_id
        account = self._accounts.get(account_id, self._clock())
        result = self._work.publish(claimed, account, AccountSeen())
        if result.seen.hold is not None:  # paused or needs_reauth now: read it afresh
            self._accounts.drop(account_id)
        if result.due_again_at is not None:
            self._enqueue_next(claimed.post.id, claimed.post.version, result.due_again_at)
        return TaskAnswer(200, result.kind or "lease_lost")

    def _not_claimed(self, post_id: ObjectId, task: PostTask) -> TaskAnswer:
        doc = posts.get_document(self._db, post_id)
        if doc is not None and doc["status"] == "publishing" and doc["version"] == task.version:
            # Another claimer holds a live lease (a duplicate delivery, or the tick's sweep):
            # let Cloud Tasks ask again; once that claimer is done this answers 2xx, and if it
            # died, its lease expires and a retry takes the post over.
            return TaskAnswer(503, "in_progress")
        if doc is not None:
            self._pass_turn(doc, task)
        return TaskAnswer(200, "stale")

    def _pass_turn(self, doc: Doc, task: PostTask) -> None:
        """This task is stale (the post is gone, canceled, published, edited or moved), but the
        account's next post still waits for it: a task of a post is its account's turn."""
        if doc["dueAt"] == task.due_at and doc["status"] in ("scheduled", "publishing"):
            # Edited in place: the current version takes the turn (its task, under the name the
            # tick gives it too), and hands it on in turn. If it is publishing, its task does.
            if doc["status"] == "scheduled":
                _enqueue(self._queue, Upcoming(doc["_id"], int(doc["version"]), doc["dueAt"], True))
            return
        self._chain(posts.chained_next(doc, task.due_at))

    def _chain(self, then: Upcoming | None) -> None:
        """Create the task of the account's next post, now that this one is done. Its name is
        the one recorded at load, so a repeat (a duplicate delivery) is ALREADY_EXISTS."""
        if then is not None:
            _enqueue(self._queue, then)

    def _enqueue_next(self, post_id: ObjectId, version: int, due_at: datetime) -> None:
        upcoming = Upcoming(post_id, version, due_at, task_recorded=False)
        if _enqueue(self._queue, upcoming) is not None:
            name = self._queue.name_of(_task_of(upcoming))
            posts.record_tasks(self._db, [(upcoming, name)], self._clock())
