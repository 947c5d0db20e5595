"""The publish function's side of DISPATCH=tasks: one task's post.

The publish function claims the one post its task names under a lease and runs the same
per-post work (PostWork, decide, settle) as a run's worker thread. MongoDB decides: a
duplicate, late or stale task claims nothing. The answer is a value (`Done`, `InProgress`,
`Stale`); the transport (common.entrypoints.publish_http) turns it into the status code Cloud
Tasks acts on.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bson import ObjectId
from pymongo.database import Database

from common import accounts, logs
from common.config import Settings
from common.db import Doc
from common.dispatch.loading import Enqueuer, PromptTasks, enqueue, task_of
from common.events import EventSink
from common.media_links import MediaLinks
from common.model import Account
from common.platforms.base import Registry
from common.posts import listing, tasks
from common.posts.lease import ClaimedPost, LeaseTerms
from common.posts.tasks import TaskClaim, Upcoming
from common.publishing import PostWork
from common.tasks import PostTask
from common.transitions.policy import AccountSeen, Rules

Clock = Callable[[], datetime]
# How long a publish instance sends on an account it read without reading it again
# (AccountCache); well under a run's budget, for which a run trusts the accounts it read.
ACCOUNT_CACHE_SECONDS = 60.0
# A task delivered more than this before its post's due time is not yet due (InProgress, so
# Cloud Tasks delivers it again): the delivery time is Cloud Tasks', the due time is ours.
EARLY_TOLERANCE_SECONDS = 1.0


@dataclass(frozen=True)
class Done:
    """The task's post was worked on: its outcome is stored (published, deferred, failed,
    unknown, withdrawn), or another claimer took it over (lease_lost). The task is over."""

    outcome: str


@dataclass(frozen=True)
class InProgress:
    """Not over yet: the post is not due (not_yet), or another claimer holds a live lease on it
    (in_progress: a duplicate delivery, or the tick's sweep). The task must come again."""

    outcome: Literal["not_yet", "in_progress"]


@dataclass(frozen=True)
class Stale:
    """The task names a version or due time the post no longer has: nothing left to do."""

    outcome: Literal["stale"] = "stale"


TaskResult = Done | InProgress | Stale


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
        self._prompt = PromptTasks(queue, settings)

    def handle(self, task: PostTask) -> TaskResult:
        early = (task.due_at - self._clock()).total_seconds()
        if early > EARLY_TOLERANCE_SECONDS:
            return InProgress("not_yet")
        started = time.monotonic()
        budget = self._settings.run_budget_seconds
        terms = LeaseTerms(
            run_id=f"task-{uuid.uuid4().hex}",
            fence=0,  # a task holds no execution lock: its lease alone guards the post
            ttl=timedelta(seconds=self._settings.lock_ttl_seconds),
            clock=self._clock,
            seconds_left=lambda: budget - (time.monotonic() - started),
            counted_by_tick=True,  # the post's own settle marks it; the tick counts (loading)
        )
        post_id = ObjectId(task.post_id)
        with logs.fields(runId=terms.run_id, postId=task.post_id):
            claim = tasks.claim_for_task(self._db, post_id, task.version, task.due_at, terms)
            if claim is None:
                return self._not_claimed(post_id, task)
            answer = self._publish(claim.claimed)
            self._chain(self._next_of(claim, task))
            return answer

    @staticmethod
    def _next_of(claim: TaskClaim, task: PostTask) -> Upcoming | None:
        """The account's next post: as the settle found the link (a post may have been linked
        after this one while it was sent: common.dispatch.loading), else as the claim did."""
        record = claim.claimed.task_record
        if record is None:  # not settled here (withdrawn, or the lease was lost)
            return claim.then
        return tasks.chained_next({"task": record}, task.due_at)

    def _publish(self, claimed: ClaimedPost) -> Done:
        account_id = claimed.post.account_id
        account = self._accounts.get(account_id, self._clock())
        result = self._work.publish(claimed, account, AccountSeen())
        if result.seen.hold is not None:  # paused or needs_reauth now: read it afresh
            self._accounts.drop(account_id)
        if claimed.post.has_follow_ups and result.kind in ("published", None):
            # Released by its settle when published (even if the lease was lost meanwhile: they
            # are released before the outcome); their tasks have the names the tick would give
            # them. Failed, deferred or unknown, it released none: nothing to read.
            self._prompt.follow_ups_released(self._db, claimed.post.id, self._clock())
        if result.due_again_at is not None:
            self._enqueue_next(claimed.post.id, claimed.post.version, result.due_again_at)
        return Done(result.kind or "lease_lost")

    def _not_claimed(self, post_id: ObjectId, task: PostTask) -> InProgress | Stale:
        doc = listing.get_document(self._db, post_id)
        if doc is not None and doc["status"] == "publishing" and doc["version"] == task.version:
            # Another claimer holds a live lease (a duplicate delivery, or the tick's sweep):
            # the task comes again; once that claimer is done it is stale, and if that claimer
            # died, its lease expires and a retry takes the post over.
            return InProgress("in_progress")
        if doc is not None:
            self._pass_turn(doc, task)
        return Stale()

    def _pass_turn(self, doc: Doc, task: PostTask) -> None:
        """This task is stale (the post is gone, canceled, published, edited or moved), but the
        account's next post still waits for it: a task of a post is its account's turn."""
        if doc["dueAt"] == task.due_at and doc["status"] in ("scheduled", "publishing"):
            # Edited in place: the current version takes the turn (its task, under the name the
            # tick gives it too), and hands it on in turn. If it is publishing, its task does.
            if doc["status"] == "scheduled":
                enqueue(self._queue, Upcoming(doc["_id"], int(doc["version"]), doc["dueAt"], True))
            return
        self._chain(tasks.chained_next(doc, task.due_at))

    def _chain(self, then: Upcoming | None) -> None:
        """Create the task of the account's next post, now that this one is done. Its name is
        the one recorded at load, so a repeat (a duplicate delivery) is ALREADY_EXISTS."""
        if then is not None:
            enqueue(self._queue, then)

    def _enqueue_next(self, post_id: ObjectId, version: int, due_at: datetime) -> None:
        upcoming = Upcoming(post_id, version, due_at, task_recorded=False)
        if enqueue(self._queue, upcoming) is not None:
            name = self._queue.name_of(task_of(upcoming))
            tasks.record_tasks(self._db, [(upcoming, name)], self._clock())
