"""The claim and the lease handle: the only way to change a claimed post, and how its outcome
is stored.

    scheduled --claim--> publishing --settle--> published / scheduled (retry, deferral) /
    failed / unknown

Every write out of `publishing` is conditional on the lease's runId: a write that matches
nothing means this run lost the post to another runner, and the caller logs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.database import Database

from common import stats
from common.db import Doc
from common.model import ErrorInfo, Post
from common.posts import follow_ups
from common.posts.store import collection, starting_in
from common.redact import redact
from common.transitions.policy import Fail, MarkPublished, MarkUnknown, Reschedule, Skip, Transition


@dataclass(frozen=True)
class LeaseTerms:
    """Who claims, for how long, and how much time the claimer has left."""

    run_id: str
    fence: int
    ttl: timedelta
    clock: Callable[[], datetime]
    seconds_left: Callable[[], float]
    finished: stats.FinishedTally | None = None  # None: each finished post is counted at once
    # True (a Cloud Task's claim): a finished post is marked `uncounted` by its own settle and
    # the tick counts it (common.posts.tasks.take_uncounted): no figures write per task.
    counted_by_tick: bool = False


@dataclass(frozen=True)
class Settled:
    """The transition is stored."""

    transition: Transition


@dataclass(frozen=True)
class LeaseLost:
    """Nothing was stored: another runner took the post after this lease expired."""

    transition: Transition


class ClaimedPost:
    """One post this claimer holds a lease on: the only way to change a claimed post.

    It is the adapter's PublishContext (record_remote, begin_send, seconds_left), and `settle`
    stores the transition `decide` chose. Every write names the lease, so a claimer whose lease
    expired and was taken over changes nothing.
    """

    def __init__(self, db: Database[Doc], post: Post, terms: LeaseTerms) -> None:
        self._db = db
        self._post = post
        self._terms = terms
        self.task_record: Doc | None = None  # the post's Cloud Task record, once settled

    @property
    def post(self) -> Post:
        """The post as stored now, including what record_remote and begin_send wrote."""
        return self._post

    @property
    def run_id(self) -> str:
        return self._terms.run_id

    def seconds_left(self) -> float:
        return self._terms.seconds_left()

    def _owned(self) -> Doc:
        return starting_in("hold", None, _id=self._post.id, **{"lease.runId": self._terms.run_id})

    def record_remote(self, remote: Mapping[str, str]) -> bool:
        """Store ids obtained from the platform; False when the post is no longer ours."""
        now = self._terms.clock()
        sets: Doc = {f"remote.{k}": v for k, v in remote.items()}
        result = collection(self._db).update_one(
            {**self._owned(), "version": self._post.version}, {"$set": {**sets, "updatedAt": now}}
        )
        if result.matched_count != 1:
            return False
        self._post = replace(self._post, remote={**self._post.remote, **remote})
        return True

    def begin_send(self, remote: Mapping[str, str] | None = None) -> bool:
        """The last check before the non-idempotent call: same version, still ours; mark sent.

        The lease is extended too, so no other runner can take the post while the call is made.
        """
        now = self._terms.clock()
        remote = remote or {}
        sets: Doc = {f"remote.{k}": v for k, v in remote.items()}
        result = collection(self._db).update_one(
            {**self._owned(), "version": self._post.version},
            {
                "$set": {
                    **sets,
                    "sendStartedAt": now,
                    "lease.expiresAt": now + self._terms.ttl,
                    "updatedAt": now,
                }
            },
        )
        if result.matched_count != 1:
            return False
        self._post = replace(
            self._post, remote={**self._post.remote, **remote}, send_started_at=now
        )
        return True

    def settle(self, transition: Transition) -> Settled | LeaseLost:
        """Store the transition, conditional on the lease."""
        if isinstance(transition, Skip):
            return Settled(transition)  # withdrawn: whoever withdrew it has written already
        now = self._terms.clock()
        post = self._post
        if isinstance(transition, MarkPublished) and post.has_follow_ups:
            # Before the outcome: the post is on the platform whether or not this lease holds.
            refs = transition.refs
            follow_ups.release(self._db, post, transition.platform_post_id, refs, now)
        update = _settle_update(transition, now)
        by_tick = self._terms.counted_by_tick and isinstance(transition, MarkPublished | Fail)
        if by_tick:
            update["$set"]["uncounted"] = _uncounted(transition, now)
        # The post's task record as the outcome leaves it: a task hands its account's turn to
        # the link the post has now (one linked after it while it was sent is not skipped).
        stored = collection(self._db).find_one_and_update(
            self._owned(), update, {"task": 1}, return_document=ReturnDocument.AFTER
        )
        if stored is None:
            return LeaseLost(transition)
        self.task_record = stored.get("task")
        if isinstance(transition, Fail) and post.has_follow_ups:
            follow_ups.stop(self._db, post.id, "failed", now)
        if not by_tick:
            self._count_finished(transition, now)
        return Settled(transition)

    def _count_finished(self, transition: Transition, now: datetime) -> None:
        """The status report's hourly figures are counted where a post finishes, so reading
        them never scans the posts of the day: into the claimer's tally when it keeps one
        (a run writes it once at its end), else straight away (or, for a task, by the tick)."""
        finished = self._terms.finished
        tally = finished if finished is not None else stats.FinishedTally()
        if isinstance(transition, MarkPublished):
            tally.published(self._post.scheduled_at, now)
        elif isinstance(transition, Fail):
            tally.failed(now)
        if finished is None:
            tally.write(self._db)


def claim(
    db: Database[Doc],
    due: Sequence[Post],
    abandoned: Sequence[Post],
    terms: LeaseTerms,
) -> list[ClaimedPost]:
    """Take posts with conditional updates; return handles for exactly the ones won, in order.

    A due post is won only if it is still `scheduled` and due; an abandoned one only if its
    lease is still expired. Its `sendStartedAt` survives the claim, so the claimer knows that a
    send may already have happened and looks on the platform before sending again.
    """
    now = terms.clock()
    lease_doc = {"runId": terms.run_id, "fence": terms.fence, "expiresAt": now + terms.ttl}
    expected = 0
    if due:
        expected += (
            collection(db)
            .update_many(
                starting_in("claim", now, _id={"$in": [p.id for p in due]}, dueAt={"$lte": now}),
                {"$set": {"status": "publishing", "lease": lease_doc, "updatedAt": now}},
            )
            .modified_count
        )
    if abandoned:
        expected += (
            collection(db)
            .update_many(
                starting_in("take_over", now, _id={"$in": [p.id for p in abandoned]}),
                {"$set": {"lease": lease_doc, "updatedAt": now}},
            )
            .modified_count
        )
    if expected == 0:
        return []
    won = collection(db).find(
        {"_id": {"$in": [p.id for p in (*due, *abandoned)]}, "lease.runId": terms.run_id}
    )
    ordered = sorted((Post.from_doc(d) for d in won), key=lambda p: (p.due_at, p.id))
    return [ClaimedPost(db, post, terms) for post in ordered]


def _uncounted(transition: Transition, now: datetime) -> Doc:
    """What the tick adds to the figures for this post (with a published post's scheduledAt),
    kept apart from its status: a failed post retried before the tick is still counted as
    failed, unless it finishes again before the tick (then its last outcome is counted)."""
    outcome = "published" if isinstance(transition, MarkPublished) else "failed"
    return {"outcome": outcome, "at": now}


def _settle_update(transition: Transition, now: datetime) -> Doc:
    if isinstance(transition, MarkPublished):
        refs = {f"remote.{k}": v for k, v in (transition.refs or {}).items()}
        return {
            "$set": {
                **refs,
                "status": "published",
                "platformPostId": transition.platform_post_id,
                "publishedAt": now,
                "finishedAt": now,
                "updatedAt": now,
                "establishedBy": "readback" if transition.by_readback else "answer",
            },
            "$unset": {"lease": "", "sendStartedAt": "", "lastError": ""},
            "$inc": {"attempts": 1},
        }
    if isinstance(transition, Reschedule):
        update: Doc = {
            "$set": {"status": "scheduled", "dueAt": transition.due_at, "updatedAt": now},
            "$unset": {"lease": "", "sendStartedAt": ""},
        }
        if transition.error is not None:
            update["$set"]["lastError"] = _error(transition.error, now)
        if transition.spend_attempt:
            update["$inc"] = {"attempts": 1}
        return update
    # failed, or unknown: `sendStartedAt` stays on an unknown post, so a later look on the
    # platform knows when to search from.
    assert isinstance(transition, Fail | MarkUnknown)
    status = "failed" if isinstance(transition, Fail) else "unknown"
    ended: Doc = {
        "$set": {"status": status, "lastError": _error(transition.error, now), "updatedAt": now},
        "$unset": {"lease": ""},
    }
    if isinstance(transition, Fail):
        ended["$set"]["finishedAt"] = now  # an unknown post waits for an operator: not finished
    if not isinstance(transition, Fail) or transition.spend_attempt:
        ended["$inc"] = {"attempts": 1}
    return ended


def _error(error: ErrorInfo, now: datetime) -> Doc:
    # Adapters redact what they know is secret; any token-named value is masked here as well.
    return {"code": error.code, "message": redact(error.message)[:500], "at": now}
