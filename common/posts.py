"""Scheduled posts, their state machine, and the only code that writes a post's status.

    scheduled --claim--> publishing --published / scheduled (retry, deferral) / failed / unknown
    scheduled|failed|unknown --operator--> canceled | scheduled (retry)

Every transition out of `publishing` is a conditional write naming the lease's runId: a write
that matches nothing means this run lost the post to another runner, and the caller logs it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from common import stats
from common.clock import ScheduledTime
from common.db import POSTS, Doc
from common.model import (
    ACCOUNT_INACTIVE,
    AUTH_EXPIRED,
    STATUSES,
    Content,
    ErrorInfo,
    Post,
)
from common.redact import redact
from common.transitions import (
    Fail,
    MarkPublished,
    MarkUnknown,
    Reschedule,
    Skip,
    Transition,
)


@dataclass(frozen=True)
class NextPost:
    """The next post a run will take: the earliest `scheduled` one due after now."""

    platform: str
    due_at: datetime


@dataclass(frozen=True)
class DueSnapshot:
    """What a run's snapshot finds: due posts, posts of dead runners, and the next one after."""

    due: list[Post]
    abandoned: list[Post]
    next_post: NextPost | None


def _collection(db: Database[Doc]) -> Any:
    return db[POSTS]


# --- creation and operator actions -------------------------------------------------------


@dataclass(frozen=True)
class NewPost:
    account_id: str
    platform: str
    content: Content
    when: ScheduledTime
    group_id: str | None = None
    # Unique over all posts (db.ensure_indexes): the same request never makes a second post.
    idempotency_key: str | None = None
    request_hash: str | None = None  # what the request carrying the key said (API replays)


def _new_document(new: NewPost, status: str, now: datetime) -> Doc:
    doc: Doc = {
        "accountId": new.account_id,
        "platform": new.platform,
        "groupId": new.group_id,
        "content": new.content.to_doc(),
        "scheduledAt": new.when.instant,
        "timeZone": new.when.time_zone,
        "localTime": new.when.local_time,
        "dueAt": new.when.instant,
        "status": status,
        "version": 1,
        "attempts": 0,
        "remote": {},
        "createdAt": now,
        "updatedAt": now,
    }
    if new.idempotency_key is not None:
        doc["idempotencyKey"] = new.idempotency_key
    if new.request_hash is not None:
        doc["requestHash"] = new.request_hash
    return doc


@dataclass(frozen=True)
class Existing:
    """A post made earlier by the same request (same idempotency key)."""

    post_id: ObjectId
    status: str
    request_hash: str | None


def insert_once(db: Database[Doc], new: NewPost, now: datetime) -> ObjectId | Existing:
    """Insert a scheduled post, or name the one its idempotency key already made.

    One command in the common case: the unique index, not a read first, detects the repeat,
    so two identical requests racing still make one post.
    """
    try:
        inserted: ObjectId = (
            _collection(db).insert_one(_new_document(new, "scheduled", now)).inserted_id
        )
    except DuplicateKeyError:
        found = existing_keys(db, [new.idempotency_key or ""])
        if not found:
            raise
        return next(iter(found.values()))
    return inserted


def existing_keys(db: Database[Doc], keys: Sequence[str]) -> dict[str, Existing]:
    """The posts already made for these idempotency keys, by key."""
    if not keys:
        return {}
    found = _collection(db).find(
        {"idempotencyKey": {"$in": list(keys)}},
        {"idempotencyKey": 1, "status": 1, "requestHash": 1},
    )
    return {
        d["idempotencyKey"]: Existing(d["_id"], str(d["status"]), d.get("requestHash"))
        for d in found
    }


def create(
    db: Database[Doc],
    *,
    account_id: str,
    platform: str,
    content: Content,
    when: ScheduledTime,
    now: datetime,
    group_id: str | None = None,
) -> ObjectId:
    new = NewPost(account_id, platform, content, when, group_id)
    inserted: ObjectId = (
        _collection(db).insert_one(_new_document(new, "scheduled", now)).inserted_id
    )
    return inserted


# Bulk import: rows are staged as `importing` (matched by no run's query) and become
# `scheduled` together once every row is in, or are removed if any insert fails.


def stage_many(
    db: Database[Doc], new_posts: Sequence[NewPost], import_id: str, now: datetime
) -> list[ObjectId]:
    docs = [{**_new_document(p, "importing", now), "importId": import_id} for p in new_posts]
    if not docs:
        return []
    return list(_collection(db).insert_many(docs, ordered=True).inserted_ids)


def activate_import(db: Database[Doc], import_id: str, now: datetime) -> int:
    result = _collection(db).update_many(
        {"importId": import_id, "status": "importing"},
        {"$set": {"status": "scheduled", "updatedAt": now}, "$unset": {"importId": ""}},
    )
    return int(result.modified_count)


def discard_import(db: Database[Doc], import_id: str) -> None:
    _collection(db).delete_many({"importId": import_id, "status": "importing"})


def get(db: Database[Doc], post_id: ObjectId) -> Post | None:
    doc = _collection(db).find_one({"_id": post_id})
    return None if doc is None else Post.from_doc(doc)


# A post that may already be on its way to the platform cannot be cancelled or edited.
_NOT_SENT = {
    "$or": [
        {"status": {"$in": ["scheduled", "failed", "unknown"]}},
        {"status": "publishing", "sendStartedAt": None},
    ]
}


def cancel(db: Database[Doc], post_id: ObjectId, now: datetime) -> bool:
    """Cancel a post unless it is published or its send has begun. Bumps `version`."""
    result = _collection(db).update_one(
        {"_id": post_id, **_NOT_SENT},
        {
            "$set": {"status": "canceled", "finishedAt": now, "updatedAt": now},
            "$unset": {"lease": ""},
            "$inc": {"version": 1},
        },
    )
    return bool(result.modified_count == 1)


def edit_content(
    db: Database[Doc],
    post_id: ObjectId,
    content: Content,
    now: datetime,
    *,
    when: ScheduledTime | None = None,
    version: int | None = None,
) -> bool:
    """Replace the content (and the time, when given), only at `version` when given.

    A claimed post goes back to `scheduled` so the new text is sent.
    """
    match: Doc = {
        "_id": post_id,
        "$or": [{"status": "scheduled"}, {"status": "publishing", "sendStartedAt": None}],
    }
    if version is not None:
        match["version"] = version
    sets: Doc = {"content": content.to_doc(), "status": "scheduled", "updatedAt": now}
    if when is not None:
        sets.update(
            scheduledAt=when.instant,
            timeZone=when.time_zone,
            localTime=when.local_time,
            dueAt=when.instant,
        )
    result = _collection(db).update_one(
        match, {"$set": sets, "$unset": {"lease": ""}, "$inc": {"version": 1}}
    )
    return bool(result.modified_count == 1)


def retry(db: Database[Doc], post_id: ObjectId, now: datetime) -> bool:
    """Operator retry: a failed or unknown post is scheduled again, due now, attempts reset."""
    result = _collection(db).update_one(
        {"_id": post_id, "status": {"$in": ["failed", "unknown"]}},
        {
            "$set": {
                "status": "scheduled",
                "dueAt": now,
                "retriedAt": now,
                "attempts": 0,
                "updatedAt": now,
            },
            "$unset": {"lastError": "", "sendStartedAt": "", "finishedAt": ""},
            "$inc": {"version": 1},
        },
    )
    return bool(result.modified_count == 1)


def release_held(db: Database[Doc], account_id: str, now: datetime) -> int:
    """After re-authentication: the account's posts held for it are due again now."""
    result = _collection(db).update_many(
        {
            "accountId": account_id,
            "status": "scheduled",
            "lastError.code": {"$in": [AUTH_EXPIRED, ACCOUNT_INACTIVE]},
        },
        {"$set": {"dueAt": now, "updatedAt": now}, "$unset": {"lastError": ""}},
    )
    return int(result.modified_count)


# --- the run's queries ---------------------------------------------------------------------


# Content is read after the claim, only for posts this claimer won.
_WITHOUT_CONTENT = {"content": 0}


def snapshot_due(
    db: Database[Doc], now: datetime, limit: int, due_until: datetime | None = None
) -> DueSnapshot:
    """Three indexed queries, each reading only the documents it returns: the oldest due posts
    (status_dueAt_id), posts whose runner's lease expired (status_leaseExpiresAt) and the next post
    after now (status_dueAt_id, one document). No $facet: its sub-pipelines cannot use an index,
    so one would read the whole queue on every tick. `due_until` (default now) lets
    DISPATCH=tasks leave the posts whose tasks are still on time to those tasks."""
    until = now if due_until is None else due_until
    due = (
        _collection(db)
        .find({"status": "scheduled", "dueAt": {"$lte": until}}, _WITHOUT_CONTENT)
        .sort("dueAt", 1)
        .limit(limit)
    )
    abandoned = (
        _collection(db)
        .find({"status": "publishing", "lease.expiresAt": {"$lt": now}}, _WITHOUT_CONTENT)
        .sort("lease.expiresAt", 1)
        .limit(limit)
    )
    return DueSnapshot(
        due=[Post.from_doc(d) for d in due],
        abandoned=[Post.from_doc(d) for d in abandoned],
        next_post=next_post(db, now),
    )


def next_post(db: Database[Doc], now: datetime) -> NextPost | None:
    """The earliest `scheduled` post due after `now` (the run's record and the status report)."""
    doc = _collection(db).find_one(
        {"status": "scheduled", "dueAt": {"$gt": now}},
        {"_id": 0, "platform": 1, "dueAt": 1},
        sort=[("dueAt", 1)],
    )
    return None if doc is None else NextPost(str(doc["platform"]), doc["dueAt"])


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
            _collection(db)
            .update_many(
                {
                    "_id": {"$in": [p.id for p in due]},
                    "status": "scheduled",
                    "dueAt": {"$lte": now},
                },
                {"$set": {"status": "publishing", "lease": lease_doc, "updatedAt": now}},
            )
            .modified_count
        )
    if abandoned:
        expected += (
            _collection(db)
            .update_many(
                {
                    "_id": {"$in": [p.id for p in abandoned]},
                    "status": "publishing",
                    "lease.expiresAt": {"$lt": now},
                },
                {"$set": {"lease": lease_doc, "updatedAt": now}},
            )
            .modified_count
        )
    if expected == 0:
        return []
    won = _collection(db).find(
        {"_id": {"$in": [p.id for p in (*due, *abandoned)]}, "lease.runId": terms.run_id}
    )
    ordered = sorted((Post.from_doc(d) for d in won), key=lambda p: (p.due_at, p.id))
    return [ClaimedPost(db, post, terms) for post in ordered]


# --- Cloud Tasks dispatch (DISPATCH=tasks) ---------------------------------------------------


@dataclass(frozen=True)
class Upcoming:
    """A post the tick may enqueue: which version, due when, and the task recorded for it."""

    id: ObjectId
    version: int
    due_at: datetime
    task_recorded: bool
    account_id: str = ""


def upcoming(db: Database[Doc], after: datetime, until: datetime, limit: int) -> list[Upcoming]:
    """`scheduled` posts due in (after, until], oldest first: one status_dueAt_id range."""
    cursor = (
        _collection(db)
        .find(
            {"status": "scheduled", "dueAt": {"$gt": after, "$lte": until}},
            {"_id": 1, "version": 1, "dueAt": 1, "task": 1, "accountId": 1},
        )
        .sort("dueAt", 1)
        .limit(limit)
    )
    return [
        Upcoming(
            d["_id"],
            int(d["version"]),
            d["dueAt"],
            # The record names the version and due time: an edit or a reschedule needs a task.
            (d.get("task") or {}).get("for") == [int(d["version"]), d["dueAt"]],
            str(d["accountId"]),
        )
        for d in cursor
    ]


def record_tasks(
    db: Database[Doc],
    enqueued: Sequence[tuple[Upcoming, str]],
    now: datetime,
    then: Mapping[ObjectId, Upcoming] | None = None,
) -> None:
    """Note on each post the task created for it (one command), unless the post changed since.

    `then` names, for a post, the next post of its account, whose task this post's task
    creates once it is done (see common.dispatch: per-account order)."""
    if not enqueued:
        return
    chained = then or {}
    _collection(db).bulk_write(
        [
            UpdateOne(
                {
                    "_id": post.id,
                    "status": "scheduled",
                    "version": post.version,
                    "dueAt": post.due_at,
                },
                {"$set": {"task": _task_record(post, name, now, chained.get(post.id))}},
            )
            for post, name in enqueued
        ],
        ordered=False,
    )


def _task_record(post: Upcoming, name: str, now: datetime, then: Upcoming | None) -> Doc:
    record: Doc = {"name": name, "for": [post.version, post.due_at], "at": now}
    if then is not None:
        record["then"] = [then.id, then.version, then.due_at]
    return record


def chained_next(doc: Mapping[str, Any], version: int, due_at: datetime) -> Upcoming | None:
    """The next post of the account whose task the task for (version, due_at) creates."""
    record = doc.get("task") or {}
    then = record.get("then")
    if record.get("for") != [version, due_at] or not then:
        return None
    return Upcoming(then[0], int(then[1]), then[2], task_recorded=True)


@dataclass(frozen=True)
class TaskClaim:
    claimed: ClaimedPost
    then: Upcoming | None  # the account's next post, whose task comes after this one


def claim_for_task(
    db: Database[Doc], post_id: ObjectId, version: int, due_at: datetime, terms: LeaseTerms
) -> TaskClaim | None:
    """Claim the one post a task names, if it is still that version, due at that time and
    either `scheduled` or left `publishing` by a runner whose lease expired. One command."""
    now = terms.clock()
    lease_doc = {"runId": terms.run_id, "fence": terms.fence, "expiresAt": now + terms.ttl}
    doc = _collection(db).find_one_and_update(
        {
            "_id": post_id,
            "version": version,
            "dueAt": due_at,
            "$or": [
                {"status": "scheduled"},
                {"status": "publishing", "lease.expiresAt": {"$lt": now}},
            ],
        },
        {"$set": {"status": "publishing", "lease": lease_doc, "updatedAt": now}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        return None
    claimed = ClaimedPost(db, Post.from_doc(doc), terms)
    return TaskClaim(claimed, chained_next(doc, version, due_at))


def renew_leases(db: Database[Doc], run_id: str, expires_at: datetime) -> int:
    result = _collection(db).update_many(
        {"lease.runId": run_id, "status": "publishing"},
        {"$set": {"lease.expiresAt": expires_at}},
    )
    return int(result.modified_count)


def release_unsent(db: Database[Doc], run_id: str, now: datetime) -> int:
    """Give back claimed posts this run never started (budget spent or lock lost)."""
    result = _collection(db).update_many(
        {"lease.runId": run_id, "status": "publishing", "sendStartedAt": None},
        {"$set": {"status": "scheduled", "updatedAt": now}, "$unset": {"lease": ""}},
    )
    return int(result.modified_count)


# --- the lease handle ------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseTerms:
    """Who claims, for how long, and how much time the claimer has left."""

    run_id: str
    fence: int
    ttl: timedelta
    clock: Callable[[], datetime]
    seconds_left: Callable[[], float]
    finished: stats.FinishedTally | None = None  # None: each finished post is counted at once


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
        return {"_id": self._post.id, "status": "publishing", "lease.runId": self._terms.run_id}

    def record_remote(self, remote: Mapping[str, str]) -> bool:
        """Store ids obtained from the platform; False when the post is no longer ours."""
        now = self._terms.clock()
        sets: Doc = {f"remote.{k}": v for k, v in remote.items()}
        result = _collection(self._db).update_one(
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
        result = _collection(self._db).update_one(
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
        result = _collection(self._db).update_one(self._owned(), _settle_update(transition, now))
        if result.matched_count != 1:
            return LeaseLost(transition)
        self._count_finished(transition, now)
        return Settled(transition)

    def _count_finished(self, transition: Transition, now: datetime) -> None:
        """The status report's hourly figures are counted where a post finishes, so reading
        them never scans the posts of the day: into the claimer's tally when it keeps one
        (a run writes it once at its end), else straight away."""
        finished = self._terms.finished
        tally = finished if finished is not None else stats.FinishedTally()
        if isinstance(transition, MarkPublished):
            tally.published(self._post.scheduled_at, now)
        elif isinstance(transition, Fail):
            tally.failed(now)
        if finished is None:
            tally.write(self._db)


def _settle_update(transition: Transition, now: datetime) -> Doc:
    if isinstance(transition, MarkPublished):
        return {
            "$set": {
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


# --- reading for people ---------------------------------------------------------------------


def count_by_status(db: Database[Doc]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for row in _collection(db).aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
        counts[str(row["_id"])] = int(row["n"])
    return counts


# Operators see everything but the lease internals; tokens never live on posts.
_LISTED_FIELDS = {"lease": 0}


@dataclass(frozen=True)
class PostFilter:
    status: str | None = None
    account_id: str | None = None
    accounts_allowed: tuple[str, ...] | None = None  # None: every account
    due_after: datetime | None = None  # inclusive
    due_before: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Page:
    """Posts in (dueAt, _id) order; `after` is where the next page starts, None on the last."""

    rows: list[Doc]
    after: tuple[datetime, ObjectId] | None

    @property
    def cursor(self) -> str | None:
        """`after` as an opaque token for a caller to send back (parse_cursor reads it)."""
        if self.after is None:
            return None
        due, last_id = self.after
        raw = f"{(due - _EPOCH) // _MILLISECOND}.{last_id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# BSON dates hold milliseconds: the cursor keeps exactly what is stored.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def parse_cursor(token: str) -> tuple[datetime, ObjectId]:
    """Raises ValueError for anything Page.cursor did not make."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        millis, last_id = raw.split(".")
        due = _EPOCH + int(millis) * _MILLISECOND
    except (ValueError, UnicodeDecodeError, OverflowError, OSError) as exc:
        raise ValueError("not a cursor from this API") from exc
    if not ObjectId.is_valid(last_id):
        raise ValueError("not a cursor from this API")
    return due, ObjectId(last_id)


def list_page(
    db: Database[Doc],
    where: PostFilter,
    after: tuple[datetime, ObjectId] | None,
    limit: int,
) -> Page:
    """One page in a stable order: (dueAt, _id) is unique, so a page boundary never repeats or
    skips a post, even while others are added (served by the indexes in db.ensure_indexes)."""
    query = _filter_query(where)
    if after is not None:
        # A range on dueAt the index seeks to, then the ties already seen left out: both
        # conditions read only index keys (dueAt, _id).
        due, last_id = after
        bounds = query.setdefault("dueAt", {})
        bounds["$gte"] = max(bounds.get("$gte", due), due)
        query["$or"] = [{"dueAt": {"$gt": due}}, {"_id": {"$gt": last_id}}]
    found = (
        _collection(db)
        .find(query, _LISTED_FIELDS)
        .sort([("dueAt", 1), ("_id", 1)])
        .limit(max(limit, 0) + 1)
    )
    rows = list(found)
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, (rows[-1]["dueAt"], rows[-1]["_id"]))


def _filter_query(where: PostFilter) -> Doc:
    query: Doc = {}
    if where.status is not None:
        query["status"] = where.status
    accounts: Doc = {}
    if where.accounts_allowed is not None:
        accounts["$in"] = list(where.accounts_allowed)
    if where.account_id is not None:
        accounts["$eq"] = where.account_id
    if accounts:
        query["accountId"] = accounts
    due: Doc = {}
    if where.due_after is not None:
        due["$gte"] = where.due_after
    if where.due_before is not None:
        due["$lt"] = where.due_before
    if due:
        query["dueAt"] = due
    return query


def get_document(db: Database[Doc], post_id: ObjectId) -> Doc | None:
    doc: Doc | None = _collection(db).find_one({"_id": post_id}, _LISTED_FIELDS)
    return doc


def mark_found_published(
    db: Database[Doc], post: Post, platform_post_id: str, now: datetime
) -> bool:
    """Reconciliation found an `unknown` post on the platform: it is published after all."""
    result = _collection(db).update_one(
        {"_id": post.id, "status": "unknown", "version": post.version},
        {
            "$set": {
                "status": "published",
                "platformPostId": platform_post_id,
                "publishedAt": now,
                "finishedAt": now,
                "updatedAt": now,
                "establishedBy": "readback",
            },
            "$unset": {"sendStartedAt": "", "lastError": ""},
        },
    )
    if result.modified_count != 1:
        return False
    stats.count_published(db, post.scheduled_at, now)
    return True


def list_unknown(db: Database[Doc], limit: int) -> list[Post]:
    return [
        Post.from_doc(d)
        for d in _collection(db).find({"status": "unknown"}).sort("updatedAt", 1).limit(limit)
    ]
