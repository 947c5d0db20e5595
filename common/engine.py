"""execute_once(): one tick of the scheduler.

1. drop a stale tick; 2. take the lock (which also de-duplicates ticks); 3. claim due posts in
batches; 4. publish on a bounded pool, one account's posts in order; 5. finalise each post as
soon as its outcome is known, conditional on the lease; 6. record the run and release the lock
in one update; 7. return the counts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pymongo.database import Database
from pymongo.errors import PyMongoError

from common import accounts, lock, posts
from common.accounts import Account
from common.backoff import retry_delay
from common.clock import require_aware, utcnow
from common.config import Settings
from common.db import DatabaseUnavailableError, Doc, describe_failure, get_database
from common.events import (
    ACCOUNT_NEEDS_REAUTH,
    POST_FAILED,
    POST_PUBLISHED,
    POST_UNKNOWN,
    RUN_COMPLETED,
    EventSink,
    NoEvents,
)
from common.platforms.base import (
    Ambiguous,
    AuthExpired,
    Outcome,
    Permanent,
    Published,
    Publisher,
    RateLimited,
    Registry,
    Retryable,
    Withdrawn,
)
from common.posts import ErrorInfo, Post
from common.workpool import KeyedWorkPool

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# A post due longer ago than this is part of a backlog (missed ticks, an outage), not on time.
CATCH_UP_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Trigger:
    """Why a run happens. Ticks carry the Pub/Sub messageId and publishTime."""

    kind: Literal["tick", "manual", "cli"]
    message_id: str | None = None
    published_at: datetime | None = None
    limit: int | None = None
    dry_run: bool = False  # report what is due without locking, claiming or publishing

    def age_seconds(self, now: datetime) -> float | None:
        if self.published_at is None:
            return None
        return (now - require_aware(self.published_at, "publishTime")).total_seconds()


@dataclass(frozen=True)
class RunResult:
    run_id: str
    skipped: bool = False
    duplicate: bool = False
    stale: bool = False
    posts_processed: int = 0
    posts_published: int = 0
    posts_failed: int = 0
    posts_deferred: int = 0
    posts_unknown: int = 0
    duration: float = 0.0
    next_scheduled_post: dict[str, Any] | None = None
    lock_lost: bool = False
    dry_run: bool = False
    posts_due: int = 0  # dry runs only: due posts (up to the limit) a real run would take

    def to_dict(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "skipped": self.skipped,
            "duplicate": self.duplicate,
            "stale": self.stale,
            "postsProcessed": self.posts_processed,
            "postsPublished": self.posts_published,
            "postsFailed": self.posts_failed,
            "postsDeferred": self.posts_deferred,
            "postsUnknown": self.posts_unknown,
            "duration": round(self.duration, 3),
            "nextScheduledPost": self.next_scheduled_post,
            "lockLost": self.lock_lost,
            "dryRun": self.dry_run,
            "postsDue": self.posts_due,
        }


def execute_once(
    settings: Settings,
    trigger: Trigger,
    registry: Registry,
    *,
    db: Database[Doc] | None = None,
    clock: Clock = utcnow,
    events: EventSink | None = None,
) -> RunResult:
    """Run one tick. Raises DatabaseUnavailableError when MongoDB cannot be reached.

    `events` receives an outcome event per finished post and one per completed run.
    """
    started = time.monotonic()
    run_id = uuid.uuid4().hex
    now = clock()
    age = trigger.age_seconds(now)
    if age is not None and age > settings.tick_max_age_seconds:
        log.info("stale tick dropped", extra={"runId": run_id, "ageSeconds": round(age, 1)})
        return RunResult(run_id=run_id, stale=True)
    database = db if db is not None else get_database(settings)
    try:
        if trigger.dry_run:
            return _dry_run(database, settings, trigger, run_id, now, started)
        acquired = lock.acquire(
            database, run_id, now, timedelta(seconds=settings.lock_ttl_seconds), trigger.message_id
        )
        if isinstance(acquired, lock.Held):
            return RunResult(run_id=run_id, skipped=True)
        if isinstance(acquired, lock.DuplicateTick):
            return RunResult(run_id=run_id, duplicate=True)
        sink = events if events is not None else NoEvents()
        run = _Run(database, settings, registry, clock, acquired, trigger, started, sink)
        return run.execute()
    except PyMongoError as exc:
        raise DatabaseUnavailableError(describe_failure(exc)) from exc


def _dry_run(
    db: Database[Doc],
    settings: Settings,
    trigger: Trigger,
    run_id: str,
    now: datetime,
    started: float,
) -> RunResult:
    """One read: what a run would take now. No lock, so it never disturbs a real run."""
    snapshot = posts.snapshot_due(db, now, trigger.limit or settings.claim_batch_size)
    upcoming = snapshot.next_post
    return RunResult(
        run_id=run_id,
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
class _Counts:
    processed: int = 0
    published: int = 0
    failed: int = 0
    deferred: int = 0
    unknown: int = 0
    withdrawn: int = 0
    lease_lost: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


class _Run:
    """The state of one run between acquiring and releasing the lock."""

    def __init__(
        self,
        db: Database[Doc],
        settings: Settings,
        registry: Registry,
        clock: Clock,
        handle: lock.LockHandle,
        trigger: Trigger,
        started: float,
        events: EventSink,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.handle = handle
        self.trigger = trigger
        self.started = started
        self.ttl = timedelta(seconds=settings.lock_ttl_seconds)
        self.counts = _Counts()
        self.accounts: dict[str, Account] = {}
        # account -> until when, and why, its posts wait (set by outcomes during this run)
        self.blocked_until: dict[str, tuple[datetime, ErrorInfo]] = {}
        self.catch_up_slots: dict[str, datetime] = {}  # account -> next overdue post's turn
        self.next_candidates: list[tuple[datetime, str | None]] = []
        self.lock_lost = False
        self.left_unstarted = False
        self.last_renewal = time.monotonic()
        self.guard = threading.Lock()
        self.events = events

    # --- the pipeline -----------------------------------------------------------------------

    def execute(self) -> RunResult:
        status, error = "ok", None
        try:
            self._claim_and_publish()
        except PyMongoError as exc:
            status, error = "error", describe_failure(exc)
            raise
        except Exception as exc:
            status, error = "error", type(exc).__name__
            raise
        finally:
            self._finish(status, error)
        result = self._result()
        self._emit_run_completed(result, status)
        return result

    def _claim_and_publish(self) -> None:
        batch = self.settings.claim_batch_size
        remaining = self.trigger.limit
        pool: KeyedWorkPool[str, Post] = KeyedWorkPool(self.settings.publish_workers, self._process)
        try:
            while not self._stopping():
                size = batch if remaining is None else min(batch, remaining)
                snapshot = posts.snapshot_due(self.db, self.clock(), size)
                if snapshot.next_post is not None:
                    self._note_next(snapshot.next_post.due_at, snapshot.next_post.platform)
                for post in self._claim(snapshot):
                    pool.submit(post.account_id, post)
                found = len(snapshot.due) + len(snapshot.abandoned)
                if remaining is not None:
                    remaining -= found
                if found < size or remaining == 0:
                    break
                # Claim the next batch only when the pool is about to run dry, so claimed
                # posts do not sit waiting while their leases tick.
                self._wait(pool, until_waiting_below=max(1, self.settings.publish_workers))
            else:
                self._note_next(self.clock(), None)  # stopped early: more may be due now
            self._wait(pool, until_waiting_below=0)
        finally:
            pool.shutdown()
            if self.left_unstarted:
                posts.release_unsent(self.db, self.handle.run_id, self.clock())

    def _claim(self, snapshot: posts.DueSnapshot) -> list[Post]:
        now = self.clock()
        late_limit = timedelta(seconds=self.settings.max_lateness_seconds)
        expired = [p for p in snapshot.due if now - p.late_since > late_limit]
        for post in expired:
            if posts.fail_expired(self.db, post, now):
                self.counts.add("processed")
                self.counts.add("failed")
                self._emit_post(True, POST_FAILED, post, code="expired")
        due = [p for p in snapshot.due if now - p.late_since <= late_limit]
        lease = posts.Lease(self.handle.run_id, self.handle.fence, now + self.ttl)
        claimed = posts.claim(self.db, due, snapshot.abandoned, lease, now)
        missing = {p.account_id for p in claimed} - self.accounts.keys()
        self.accounts.update(accounts.load_many(self.db, missing))
        return claimed

    def _wait(self, pool: KeyedWorkPool[str, Post], until_waiting_below: int) -> None:
        """Wait for the pool while keeping the lock and the leases alive."""
        interval = self.settings.lock_renew_interval_seconds
        while True:
            timeout = max(0.0, interval - (time.monotonic() - self.last_renewal))
            if pool.wait(timeout, until_waiting_below):
                return
            self._renew()

    def _renew(self) -> None:
        now = self.clock()
        self.last_renewal = time.monotonic()
        if not self.handle.renew(now):
            if not self.lock_lost:
                log.error("execution lock lost mid-run", extra={"runId": self.handle.run_id})
            self.lock_lost = True
        posts.renew_leases(self.db, self.handle.run_id, now + self.ttl)

    def seconds_left(self) -> float:
        return self.settings.run_budget_seconds - (time.monotonic() - self.started)

    def _stopping(self) -> bool:
        return self.lock_lost or self.seconds_left() <= 0

    def _note_next(self, due_at: datetime, platform: str | None) -> None:
        with self.guard:
            self.next_candidates.append((due_at, platform))

    # --- one post ---------------------------------------------------------------------------

    def _process(self, post: Post) -> None:
        if self._stopping():
            self.left_unstarted = True  # released back to `scheduled` at the end of the run
            self._note_next(post.due_at, post.platform)
            return
        self.counts.add("processed")
        now = self.clock()
        account = self.accounts.get(post.account_id)
        publisher = self.registry.get(post.platform)
        if account is None:
            self._apply(post, Permanent("account_not_found", "the post's account does not exist"))
        elif publisher is None:
            self._apply(
                post, Permanent("unsupported_platform", f"no publisher for {post.platform}")
            )
        elif post.send_started_at is not None and not self._reconcile(post, account, publisher):
            return  # settled by looking on the platform, before any deferral could forget it
        elif (block := self._blocked_until(account, now)) is not None:
            self._defer(post, *block)
        elif (slot := self._catch_up_slot(post, now)) is not None:
            self._defer(post, slot, None)
        else:
            self._apply(post, self._publish(post, account, publisher))

    def _catch_up_slot(self, post: Post, now: datetime) -> datetime | None:
        """Spread an account's overdue backlog (after an outage) instead of bursting it.

        Posts already CATCH_UP_AFTER late go out one per CATCHUP_SPACING_SECONDS per account;
        the rest are deferred to their slots, in order, without spending an attempt. Posts due
        on time are never held back: several at the same minute is what the operator asked for.
        """
        spacing = timedelta(seconds=self.settings.catchup_spacing_seconds)
        if not spacing or now - post.due_at < CATCH_UP_AFTER:
            return None
        with self.guard:
            slot = self.catch_up_slots.get(post.account_id)
            if slot is None or slot <= now:
                self.catch_up_slots[post.account_id] = now + spacing
                return None
            self.catch_up_slots[post.account_id] = slot + spacing
            return slot

    def _blocked_until(self, account: Account, now: datetime) -> tuple[datetime, ErrorInfo] | None:
        """When an account may publish again, and why: a rate-limit pause or a re-auth hold.

        The reason is recorded on each held post, so re-authentication can release exactly the
        posts it held (posts.release_held).
        """
        if account.status != "active":
            hold = now + timedelta(seconds=self.settings.reauth_hold_seconds)
            return hold, ErrorInfo(posts.ACCOUNT_INACTIVE, f"the account is {account.status}")
        with self.guard:
            blocked = self.blocked_until.get(account.id)
        if blocked is not None and blocked[0] > now:
            return blocked  # blocked earlier in this run (rate limit or expired token)
        if account.is_paused(now) and account.paused_until is not None:
            return account.paused_until, ErrorInfo("rate_limited", "the account is rate limited")
        return None

    def _publish(self, post: Post, account: Account, publisher: Publisher) -> Outcome:
        ctx = _Context(self, post)
        try:
            return publisher.publish(post, account, ctx)
        except Exception as exc:
            # Adapters return outcomes; an exception is a bug. Whether it is safe to retry
            # depends only on whether the send had begun.
            log.exception(
                "publisher raised", extra={"runId": self.handle.run_id, "postId": str(post.id)}
            )
            reason = f"adapter error: {type(exc).__name__}"
            return Ambiguous(reason) if ctx.sent else Retryable(reason)

    def _reconcile(self, post: Post, account: Account, publisher: Publisher) -> bool:
        """A dead runner may have sent this post: look on the platform before anything else.

        Returns True only when the post is to be sent again (not found, at-least-once policy).
        This runs before any deferral, because a deferral clears `sendStartedAt` and the next
        run would then send without looking.
        """
        try:
            found = publisher.find_published(post, account)
        except Exception as exc:
            # Could not look: the post is unknown, never re-sent blindly. `socialsched posts
            # reconcile` looks again once the platform (or the account's token) answers.
            log.warning(
                "reconciliation failed", extra={"postId": str(post.id), "error": type(exc).__name__}
            )
            self._apply(post, Ambiguous(f"possibly sent by a dead runner; could not look: {exc}"))
            return False
        if found is not None:
            self._apply(post, found)
            return False
        if self.settings.reconcile_policy == "at_least_once":
            return True
        self._apply(post, Ambiguous("sent by a runner that died; not found on the platform"))
        return False

    def _apply(self, post: Post, outcome: Outcome) -> None:
        now = self.clock()
        run_id = self.handle.run_id
        if isinstance(outcome, Published):
            kept = posts.mark_published(self.db, post, run_id, outcome.platform_post_id, now)
            self._count(kept, "published")
            self._emit_post(kept, POST_PUBLISHED, post, platformPostId=outcome.platform_post_id)
        elif isinstance(outcome, RateLimited):
            error = ErrorInfo("rate_limited", outcome.reason)
            if outcome.account_wide:
                accounts.pause_until(self.db, post.account_id, outcome.retry_at, now)
                self._block(post.account_id, outcome.retry_at, error)
            self._defer(post, outcome.retry_at, error)
        elif isinstance(outcome, AuthExpired):
            if accounts.mark_needs_reauth(self.db, post.account_id, now):
                self.events.emit(
                    ACCOUNT_NEEDS_REAUTH,
                    {"accountId": post.account_id, "platform": post.platform, "runId": run_id},
                )
            hold = now + timedelta(seconds=self.settings.reauth_hold_seconds)
            error = ErrorInfo(posts.AUTH_EXPIRED, outcome.reason)
            self._block(post.account_id, hold, error)
            self._defer(post, hold, error)
        elif isinstance(outcome, Retryable):
            self._retry_or_fail(post, ErrorInfo("retryable", outcome.reason), now)
        elif isinstance(outcome, Permanent):
            error = ErrorInfo(outcome.code, outcome.message)
            self._fail(post, error, now)
        elif isinstance(outcome, Ambiguous):
            kept = posts.mark_unknown(
                self.db, post, run_id, ErrorInfo("ambiguous", outcome.reason), now
            )
            self._count(kept, "unknown")
            self._emit_post(kept, POST_UNKNOWN, post)
        elif isinstance(outcome, Withdrawn):
            log.info(
                "post withdrawn before send",
                extra={"postId": str(post.id), "reason": outcome.reason},
            )
            self.counts.add("withdrawn")

    def _retry_or_fail(self, post: Post, error: ErrorInfo, now: datetime) -> None:
        attempts = post.attempts + 1
        if attempts >= self.settings.max_attempts:
            exhausted = ErrorInfo(
                "retries_exhausted", f"{attempts} attempts; last: {error.message}"
            )
            self._fail(post, exhausted, now)
            return
        delay = retry_delay(
            attempts, self.settings.retry_base_seconds, self.settings.retry_max_seconds
        )
        kept = posts.reschedule(
            self.db,
            post,
            self.handle.run_id,
            due_at=now + delay,
            error=error,
            spend_attempt=True,
            now=now,
        )
        if kept:
            self._note_next(now + delay, post.platform)
        self._count(kept, "deferred")

    def _defer(self, post: Post, until: datetime, error: ErrorInfo | None) -> None:
        """Back to `scheduled` at `until` without spending an attempt."""
        kept = posts.reschedule(
            self.db,
            post,
            self.handle.run_id,
            due_at=until,
            error=error,
            spend_attempt=False,
            now=self.clock(),
        )
        if kept:
            self._note_next(until, post.platform)
        self._count(kept, "deferred")

    def _fail(self, post: Post, error: ErrorInfo, now: datetime) -> None:
        kept = posts.mark_failed(self.db, post, self.handle.run_id, error, now)
        self._count(kept, "failed")
        self._emit_post(kept, POST_FAILED, post, code=error.code)

    def _emit_post(self, kept: bool, name: str, post: Post, **fields: str) -> None:
        """An outcome event for a post whose outcome this run recorded (never the text)."""
        if kept:
            self.events.emit(
                name,
                {
                    "postId": str(post.id),
                    "accountId": post.account_id,
                    "platform": post.platform,
                    "runId": self.handle.run_id,
                    **fields,
                },
            )

    def _emit_run_completed(self, result: RunResult, status: str) -> None:
        self.events.emit(
            RUN_COMPLETED,
            {
                "runId": result.run_id,
                "trigger": self.trigger.kind,
                "status": status,
                "postsProcessed": result.posts_processed,
                "postsPublished": result.posts_published,
                "postsFailed": result.posts_failed,
                "postsDeferred": result.posts_deferred,
                "postsUnknown": result.posts_unknown,
                "duration": round(result.duration, 3),
            },
        )

    def _block(self, account_id: str, until: datetime, why: ErrorInfo) -> None:
        with self.guard:
            self.blocked_until[account_id] = (until, why)

    def _count(self, kept: bool, name: str) -> None:
        if kept:
            self.counts.add(name)
        else:
            # Another runner took the post after our lease expired; its result stands.
            log.error(
                "lease lost before the outcome was recorded", extra={"runId": self.handle.run_id}
            )
            self.counts.add("lease_lost")

    # --- the end ----------------------------------------------------------------------------

    def _next_post(self) -> dict[str, Any] | None:
        if not self.next_candidates:
            return None
        due_at, platform = min(self.next_candidates, key=lambda c: c[0])
        return {"platform": platform, "scheduledAt": due_at}

    def _finish(self, status: str, error: str | None) -> None:
        now = self.clock()
        duration = time.monotonic() - self.started
        self.duration = duration
        c = self.counts
        summary: Doc = {
            "runId": self.handle.run_id,
            "trigger": self.trigger.kind,
            "messageId": self.trigger.message_id,
            "finishedAt": now,
            "duration": round(duration, 3),
            "status": status,
            "processed": c.processed,
            "published": c.published,
            "failed": c.failed,
            "deferred": c.deferred,
            "unknown": c.unknown,
            "leaseLost": c.lease_lost,
        }
        record = lock.RunRecord(
            finished_at=now,
            duration_seconds=round(duration, 3),
            status=status,
            error=error,
            published=c.published,
            failed=c.failed,
            summary=summary,
            next_post=self._next_post(),
        )
        if not self.handle.release(record):
            self.lock_lost = True
        log.info("run finished", extra=summary)

    def _result(self) -> RunResult:
        c = self.counts
        return RunResult(
            run_id=self.handle.run_id,
            posts_processed=c.processed,
            posts_published=c.published,
            posts_failed=c.failed,
            posts_deferred=c.deferred,
            posts_unknown=c.unknown,
            duration=self.duration,
            next_scheduled_post=self._next_post(),
            lock_lost=self.lock_lost,
        )


class _Context:
    """The PublishContext the engine hands an adapter for one post."""

    def __init__(self, run: _Run, post: Post) -> None:
        self._run = run
        self._post = post
        self.sent = False

    def record_remote(self, remote: Mapping[str, str]) -> bool:
        return posts.record_remote(
            self._run.db, self._post, self._run.handle.run_id, remote, self._run.clock()
        )

    def begin_send(self, remote: Mapping[str, str] | None = None) -> bool:
        now = self._run.clock()
        self.sent = posts.begin_send(
            self._run.db,
            self._post,
            self._run.handle.run_id,
            remote or {},
            now + self._run.ttl,
            now,
        )
        return self.sent

    def seconds_left(self) -> float:
        return self._run.seconds_left()
