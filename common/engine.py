"""execute_once(): one tick of the scheduler, as orchestration only.

1. drop a stale tick; 2. take the lock (which also de-duplicates ticks); 3. claim due posts in
batches (lease.claim gives a lease handle per post); 4. publish on a bounded pool, one
account's posts in order, each through common.publishing (decide, act, settle); 5. keep the
lock and the leases alive and stop claiming when the budget is spent; 6. record the run and
release the lock in one update; 7. return the run's summary.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo.database import Database
from pymongo.errors import PyMongoError

from common import accounts, lock, logs, stats
from common.clock import require_aware, utcnow
from common.config import Settings
from common.db import DatabaseUnavailableError, Doc, describe_failure, get_database
from common.events import RUN_COMPLETED, EventSink, NoEvents
from common.media_links import MediaLinks
from common.model import Account
from common.platforms.base import Registry
from common.posts import lease, queue
from common.posts.lease import ClaimedPost
from common.publishing import PostResult, PostWork
from common.run_summary import RunCounts, RunStatus, RunSummary, TriggerKind
from common.transitions.policy import AccountSeen, Rules
from common.workpool import KeyedWorkPool

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class Dispatch(Protocol):
    """How a run's due posts reach publishing, beyond the run's own claims (the runner chooses:
    common.dispatch.for_settings). Without one, the run claims every due post itself."""

    def prepare(self, db: Database[Doc], now: datetime) -> datetime | None:
        """Called once under the lock, before the first claim: the due time up to which the
        run claims posts itself (None: every due post); the later ones are dispatched."""
        ...


class RunStep(Protocol):
    """Upkeep a run does under its lock before it claims (the runner chooses; recurring posts
    are materialised by one: operations.series_due.MaterialiseDue). Bounded work per run, and
    cheap when there is none: the run's command count on an empty tick depends on it."""

    def __call__(self, db: Database[Doc], now: datetime) -> None: ...


@dataclass(frozen=True)
class Trigger:
    """Why a run happens. Ticks carry the Pub/Sub messageId and publishTime."""

    kind: TriggerKind
    message_id: str | None = None
    published_at: datetime | None = None
    limit: int | None = None
    dry_run: bool = False  # report what is due without locking, claiming or publishing

    def age_seconds(self, now: datetime) -> float | None:
        if self.published_at is None:
            return None
        return (now - require_aware(self.published_at, "publishTime")).total_seconds()


def execute_once(
    settings: Settings,
    trigger: Trigger,
    registry: Registry,
    *,
    db: Database[Doc] | None = None,
    clock: Clock = utcnow,
    events: EventSink | None = None,
    dispatch: Dispatch | None = None,
    steps: tuple[RunStep, ...] = (),
) -> RunSummary:
    """Run one tick. Raises DatabaseUnavailableError when MongoDB cannot be reached.

    `events` receives an outcome event per finished post and one per completed run;
    `dispatch` (see Dispatch) hands posts to other workers before the run claims; `steps`
    (see RunStep) run first, under the lock.
    """
    started = time.monotonic()
    run_id = uuid.uuid4().hex
    not_run = RunSummary(run_id, trigger.kind, trigger.message_id)
    now = clock()
    age = trigger.age_seconds(now)
    if age is not None and age > settings.tick_max_age_seconds:
        log.info("stale tick dropped", extra={"runId": run_id, "ageSeconds": round(age, 1)})
        return replace(not_run, stale=True)
    database = db if db is not None else get_database(settings)
    try:
        if trigger.dry_run:
            return _dry_run(database, settings, trigger, not_run, now, started)
        acquired = lock.acquire(
            database, run_id, now, timedelta(seconds=settings.lock_ttl_seconds), trigger.message_id
        )
        if isinstance(acquired, lock.Held):
            return replace(not_run, skipped=True)
        if isinstance(acquired, lock.DuplicateTick):
            return replace(not_run, duplicate=True)
        with logs.fields(runId=run_id):
            run = _Run(database, settings, registry, clock, acquired, trigger, started, events)
            return run.execute(dispatch, steps)
    except PyMongoError as exc:
        raise DatabaseUnavailableError(describe_failure(exc)) from exc


def _dry_run(
    db: Database[Doc],
    settings: Settings,
    trigger: Trigger,
    not_run: RunSummary,
    now: datetime,
    started: float,
) -> RunSummary:
    """One read: what a run would take now. No lock, so it never disturbs a real run."""
    snapshot = queue.snapshot_due(db, now, trigger.limit or settings.claim_batch_size)
    upcoming = snapshot.next_post
    return replace(
        not_run,
        dry_run=True,
        posts_due=len(snapshot.due) + len(snapshot.abandoned),
        duration=time.monotonic() - started,
        next_scheduled_post=(
            None
            if upcoming is None
            else {"platform": upcoming.platform, "scheduledAt": upcoming.due_at}
        ),
    )


@dataclass
class _Tally:
    """The run's counters, added to from every worker thread: its outcomes (the summary's) and
    the posts finished per hour (stats, written once at the end)."""

    counts: RunCounts = field(default_factory=RunCounts)
    finished: stats.FinishedTally = field(default_factory=stats.FinishedTally)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.guard:
            self.counts = replace(self.counts, **{name: getattr(self.counts, name) + 1})


class _Hold:
    """The run's hold on the execution lock within its time budget: renewed, with the leases of
    its posts, while the pool works; once lost or spent, nothing new is started."""

    def __init__(
        self, db: Database[Doc], settings: Settings, clock: Clock, handle: lock.LockHandle
    ) -> None:
        self.db = db
        self.clock = clock
        self.handle = handle
        self.budget = settings.run_budget_seconds
        self.renew_every = settings.lock_renew_interval_seconds
        self.lease_ttl = timedelta(seconds=settings.lock_ttl_seconds)
        self.lost = False
        self.last_renewal = time.monotonic()

    def seconds_left(self, started: float) -> float:
        return self.budget - (time.monotonic() - started)

    def wait(self, pool: KeyedWorkPool[str, ClaimedPost], until_waiting_below: int) -> None:
        """Wait for the pool while keeping the lock and the leases alive."""
        while True:
            timeout = max(0.0, self.renew_every - (time.monotonic() - self.last_renewal))
            if pool.wait(timeout, until_waiting_below):
                return
            self._renew()

    def _renew(self) -> None:
        now = self.clock()
        self.last_renewal = time.monotonic()
        if not self.handle.renew(now):
            if not self.lost:
                log.error("execution lock lost mid-run")
            self.lost = True
        queue.renew_leases(self.db, self.handle.run_id, now + self.lease_ttl)


@dataclass
class _Learnt:
    """What the run's workers found out, shared under one lock: the accounts loaded, what each
    account's answers said, when the next post is due, and whether the round left posts
    unstarted or released follow-ups (due now: another round)."""

    accounts: dict[str, Account] = field(default_factory=dict)
    seen: dict[str, AccountSeen] = field(default_factory=dict)
    next_candidates: list[tuple[datetime, str | None]] = field(default_factory=list)
    left_unstarted: bool = False
    released_follow_ups: bool = False
    guard: threading.Lock = field(default_factory=threading.Lock)

    def note_next(self, due_at: datetime, platform: str | None) -> None:
        with self.guard:
            self.next_candidates.append((due_at, platform))

    def seen_for(self, account_id: str) -> AccountSeen:
        with self.guard:
            return self.seen.get(account_id, AccountSeen())

    def record(self, account_id: str, platform: str, result: PostResult) -> None:
        with self.guard:
            self.seen[account_id] = result.seen
        if result.due_again_at is not None:
            self.note_next(result.due_again_at, platform)

    def next_post(self) -> dict[str, Any] | None:
        if not self.next_candidates:
            return None
        due_at, platform = min(self.next_candidates, key=lambda c: c[0])
        return {"platform": platform, "scheduledAt": due_at}


class _Run:
    """One run between acquiring and releasing the lock: what it was given (the database,
    settings, clock, trigger, events), the work of one post and its lease terms, the hold on
    the lock, its tally, and what its workers learnt."""

    def __init__(
        self,
        db: Database[Doc],
        settings: Settings,
        registry: Registry,
        clock: Clock,
        handle: lock.LockHandle,
        trigger: Trigger,
        started: float,
        events: EventSink | None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.trigger = trigger
        self.started = started
        self.events = events if events is not None else NoEvents()
        self.work = PostWork(
            db, registry, Rules.from_settings(settings), self.events, clock, MediaLinks(settings)
        )
        self.hold = _Hold(db, settings, clock, handle)
        self.tally = _Tally()
        self.terms = lease.LeaseTerms(
            handle.run_id,
            handle.fence,
            self.hold.lease_ttl,
            clock,
            self.seconds_left,
            self.tally.finished,
        )
        self.learnt = _Learnt()

    # --- the pipeline -----------------------------------------------------------------------

    def execute(self, dispatch: Dispatch | None, steps: tuple[RunStep, ...]) -> RunSummary:
        status: RunStatus = "ok"
        error = None
        try:
            for step in steps:
                step(self.db, self.clock())
            due_until = dispatch.prepare(self.db, self.clock()) if dispatch is not None else None
            self._claim_and_publish(due_until)
        except PyMongoError as exc:
            status, error = "error", describe_failure(exc)
            raise
        except Exception as exc:
            status, error = "error", type(exc).__name__
            raise
        finally:
            summary = self._finish(status, error)
        self.events.emit(RUN_COMPLETED, summary.to_event())
        return summary

    def _claim_and_publish(self, due_until: datetime | None) -> None:
        """Claim batches of due posts (up to `due_until` when a dispatch keeps the later ones)
        and publish them on the pool until none is left, the budget is spent or the lock lost."""
        batch = self.settings.claim_batch_size
        remaining = self.trigger.limit
        workers = self.settings.publish_workers
        pool: KeyedWorkPool[str, ClaimedPost] = KeyedWorkPool(workers, self._process)
        try:
            # Another round when published posts released follow-ups (due now): a thread goes
            # out part after part within one run, as far as its budget reaches.
            while remaining != 0 and not self._stopping():
                self.learnt.released_follow_ups = False
                while not self._stopping():
                    size = batch if remaining is None else min(batch, remaining)
                    now = self.clock()
                    snapshot = queue.snapshot_due(self.db, now, size, due_until)
                    if snapshot.next_post is not None:
                        self.learnt.note_next(
                            snapshot.next_post.due_at, snapshot.next_post.platform
                        )
                    for claimed in self._claim(snapshot):
                        pool.submit(claimed.post.account_id, claimed)
                    found = len(snapshot.due) + len(snapshot.abandoned)
                    if remaining is not None:
                        remaining -= found
                    if found < size or remaining == 0:
                        break
                    # Claim the next batch only when the pool is about to run dry, so claimed
                    # posts do not sit waiting while their leases tick.
                    self.hold.wait(pool, until_waiting_below=max(1, workers))
                else:
                    self.learnt.note_next(self.clock(), None)  # stopped early: more may be due now
                self.hold.wait(pool, until_waiting_below=0)
                if not self.learnt.released_follow_ups:
                    break
        finally:
            pool.shutdown()
            if self.learnt.left_unstarted:
                queue.release_unsent(self.db, self.hold.handle.run_id, self.clock())

    def _claim(self, snapshot: queue.DueSnapshot) -> list[ClaimedPost]:
        claimed = lease.claim(self.db, snapshot.due, snapshot.abandoned, self.terms)
        missing = {c.post.account_id for c in claimed} - self.learnt.accounts.keys()
        self.learnt.accounts.update(accounts.load_many(self.db, missing))
        return claimed

    def seconds_left(self) -> float:
        return self.hold.seconds_left(self.started)

    def _stopping(self) -> bool:
        return self.hold.lost or self.seconds_left() <= 0

    # --- one post (on a worker thread; one account's posts never run at once) ----------------

    def _process(self, claimed: ClaimedPost) -> None:
        post = claimed.post
        if self._stopping():
            self.learnt.left_unstarted = True  # released back to `scheduled` at the end of the run
            self.learnt.note_next(post.due_at, post.platform)
            return
        self.tally.add("processed")
        with logs.fields(postId=str(post.id)):
            seen = self.learnt.seen_for(post.account_id)
            result = self.work.publish(claimed, self.learnt.accounts.get(post.account_id), seen)
            self.learnt.record(post.account_id, post.platform, result)
            self.tally.add(result.kind or "lease_lost")
            if result.kind == "published" and post.has_follow_ups:
                self.learnt.released_follow_ups = True

    # --- the end ----------------------------------------------------------------------------

    def _finish(self, status: RunStatus, error: str | None) -> RunSummary:
        summary = RunSummary(
            run_id=self.hold.handle.run_id,
            trigger=self.trigger.kind,
            message_id=self.trigger.message_id,
            status=status,
            error=error,
            finished_at=self.clock(),
            duration=time.monotonic() - self.started,
            counts=self.tally.counts,
            next_scheduled_post=self.learnt.next_post(),
        )
        self.tally.finished.write(self.db)  # the run's hourly figures: one command, none if idle
        if not self.hold.handle.release(summary):
            self.hold.lost = True
        log.info("run finished", extra=summary.to_record())
        return replace(summary, lock_lost=self.hold.lost)
