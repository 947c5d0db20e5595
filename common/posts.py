"""Scheduled posts, their state machine, and the only code that writes a post's status.

    scheduled --claim--> publishing --published / scheduled (retry, deferral) / failed / unknown
    scheduled|failed|unknown --operator--> canceled | scheduled (retry)

Every transition out of `publishing` is a conditional write naming the lease's runId: a write
that matches nothing means this run lost the post to another runner, and the caller logs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from pymongo.database import Database

from common.clock import ScheduledTime
from common.db import POSTS, Doc

PostStatus = Literal["scheduled", "publishing", "published", "failed", "unknown", "canceled"]
STATUSES: tuple[PostStatus, ...] = (
    "scheduled",
    "publishing",
    "published",
    "failed",
    "unknown",
    "canceled",
)
TERMINAL = ("published", "failed", "canceled")
# lastError codes of posts waiting for their account's re-authentication.
AUTH_EXPIRED = "auth_expired"
ACCOUNT_INACTIVE = "account_inactive"


@dataclass(frozen=True)
class Media:
    url: str
    type: Literal["image", "video"] = "image"


@dataclass(frozen=True)
class Content:
    text: str = ""
    link: str | None = None
    media: tuple[Media, ...] = ()

    def to_doc(self) -> Doc:
        return {
            "text": self.text,
            "link": self.link,
            "media": [{"url": m.url, "type": m.type} for m in self.media],
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Content:
        media = tuple(
            Media(url=m["url"], type=m.get("type", "image")) for m in doc.get("media") or ()
        )
        return cls(text=doc.get("text") or "", link=doc.get("link"), media=media)


@dataclass(frozen=True)
class Lease:
    run_id: str
    fence: int
    expires_at: datetime


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str


@dataclass(frozen=True)
class Post:
    id: ObjectId
    account_id: str
    platform: str
    content: Content
    scheduled_at: datetime
    time_zone: str
    due_at: datetime
    status: PostStatus
    version: int
    attempts: int = 0
    remote: Mapping[str, str] = field(default_factory=dict)
    lease: Lease | None = None
    send_started_at: datetime | None = None
    group_id: str | None = None
    retried_at: datetime | None = None  # an operator's retry restarts the lateness clock

    @property
    def late_since(self) -> datetime:
        """Lateness (MAX_LATENESS_SECONDS) counts from here."""
        return self.retried_at or self.scheduled_at

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Post:
        lease = doc.get("lease")
        return cls(
            id=doc["_id"],
            account_id=str(doc["accountId"]),
            platform=str(doc["platform"]),
            content=Content.from_doc(doc.get("content") or {}),
            scheduled_at=doc["scheduledAt"],
            time_zone=str(doc.get("timeZone", "UTC")),
            due_at=doc["dueAt"],
            status=doc["status"],
            version=int(doc.get("version", 1)),
            attempts=int(doc.get("attempts", 0)),
            remote=dict(doc.get("remote") or {}),
            lease=Lease(lease["runId"], int(lease["fence"]), lease["expiresAt"]) if lease else None,
            send_started_at=doc.get("sendStartedAt"),
            group_id=doc.get("groupId"),
            retried_at=doc.get("retriedAt"),
        )


@dataclass(frozen=True)
class NextPost:
    post_id: ObjectId
    platform: str
    due_at: datetime


@dataclass(frozen=True)
class DueSnapshot:
    """What one query tells a run: due posts, posts of dead runners, and the next one after."""

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


def _new_document(new: NewPost, status: str, now: datetime) -> Doc:
    return {
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
) -> None:
    docs = [{**_new_document(p, "importing", now), "importId": import_id} for p in new_posts]
    if docs:
        _collection(db).insert_many(docs, ordered=True)


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
            "$set": {"status": "canceled", "updatedAt": now},
            "$unset": {"lease": ""},
            "$inc": {"version": 1},
        },
    )
    return bool(result.modified_count == 1)


def edit_content(db: Database[Doc], post_id: ObjectId, content: Content, now: datetime) -> bool:
    """Replace the content; a claimed post goes back to `scheduled` so the new text is sent."""
    result = _collection(db).update_one(
        {
            "_id": post_id,
            "$or": [{"status": "scheduled"}, {"status": "publishing", "sendStartedAt": None}],
        },
        {
            "$set": {"content": content.to_doc(), "status": "scheduled", "updatedAt": now},
            "$unset": {"lease": ""},
            "$inc": {"version": 1},
        },
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
            "$unset": {"lastError": "", "sendStartedAt": ""},
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


def snapshot_due(db: Database[Doc], now: datetime, limit: int) -> DueSnapshot:
    """One command: the oldest due posts, posts whose lease expired, and the next post after."""
    post_fields = {"content": 0}  # content is read after the claim, only for posts we won
    pipeline = [
        {"$match": {"status": {"$in": ["scheduled", "publishing"]}}},
        {
            "$facet": {
                "due": [
                    {"$match": {"status": "scheduled", "dueAt": {"$lte": now}}},
                    {"$sort": {"dueAt": 1}},
                    {"$limit": limit},
                    {"$project": post_fields},
                ],
                "abandoned": [
                    {"$match": {"status": "publishing", "lease.expiresAt": {"$lt": now}}},
                    {"$limit": limit},
                    {"$project": post_fields},
                ],
                "next": [
                    {"$match": {"status": "scheduled", "dueAt": {"$gt": now}}},
                    {"$sort": {"dueAt": 1}},
                    {"$limit": 1},
                    {"$project": {"platform": 1, "dueAt": 1}},
                ],
            }
        },
    ]
    empty: Doc = {"due": [], "abandoned": [], "next": []}
    result: Doc = next(iter(_collection(db).aggregate(pipeline)), empty)
    nxt = result["next"][0] if result["next"] else None
    return DueSnapshot(
        due=[Post.from_doc(d) for d in result["due"]],
        abandoned=[Post.from_doc(d) for d in result["abandoned"]],
        next_post=NextPost(nxt["_id"], nxt["platform"], nxt["dueAt"]) if nxt else None,
    )


def claim(
    db: Database[Doc],
    due: Sequence[Post],
    abandoned: Sequence[Post],
    lease: Lease,
    now: datetime,
) -> list[Post]:
    """Take posts for this run with conditional updates; return exactly the ones it won.

    A due post is won only if it is still `scheduled` and due; an abandoned one only if its
    lease is still expired. Its `sendStartedAt` survives the claim, so the run knows that a
    send may already have happened and reconciles before sending again.
    """
    lease_doc = {"runId": lease.run_id, "fence": lease.fence, "expiresAt": lease.expires_at}
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
        {"_id": {"$in": [p.id for p in (*due, *abandoned)]}, "lease.runId": lease.run_id}
    )
    return sorted((Post.from_doc(d) for d in won), key=lambda p: (p.due_at, p.id))


def fail_expired(db: Database[Doc], post: Post, now: datetime) -> bool:
    """A post later than the lateness limit fails with reason `expired`, never sent.

    One write per post (expired posts are rare) so the caller knows exactly which it failed.
    """
    result = _collection(db).update_one(
        {"_id": post.id, "status": "scheduled", "version": post.version},
        {
            "$set": {
                "status": "failed",
                "lastError": {
                    "code": "expired",
                    "message": "later than MAX_LATENESS_SECONDS",
                    "at": now,
                },
                "updatedAt": now,
            }
        },
    )
    return bool(result.modified_count == 1)


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


# --- inside one publish ---------------------------------------------------------------------


def _owned(post: Post, run_id: str) -> Doc:
    return {"_id": post.id, "status": "publishing", "lease.runId": run_id}


def record_remote(
    db: Database[Doc], post: Post, run_id: str, remote: Mapping[str, str], now: datetime
) -> bool:
    sets: Doc = {f"remote.{k}": v for k, v in remote.items()}
    result = _collection(db).update_one(
        {**_owned(post, run_id), "version": post.version}, {"$set": {**sets, "updatedAt": now}}
    )
    return bool(result.matched_count == 1)


def begin_send(
    db: Database[Doc],
    post: Post,
    run_id: str,
    remote: Mapping[str, str],
    lease_expires_at: datetime,
    now: datetime,
) -> bool:
    """The last check before the non-idempotent call: same version, still ours; mark as sent.

    The lease is extended too, so no other runner can take the post while the call is made.
    """
    sets: Doc = {f"remote.{k}": v for k, v in remote.items()}
    result = _collection(db).update_one(
        {**_owned(post, run_id), "version": post.version},
        {
            "$set": {
                **sets,
                "sendStartedAt": now,
                "lease.expiresAt": lease_expires_at,
                "updatedAt": now,
            }
        },
    )
    return bool(result.matched_count == 1)


# --- outcomes (each conditional on the lease) ---------------------------------------------


def _finish(db: Database[Doc], post: Post, run_id: str, update: Doc) -> bool:
    result = _collection(db).update_one(_owned(post, run_id), update)
    return bool(result.matched_count == 1)


def _error(code: str, message: str, now: datetime) -> Doc:
    return {"code": code, "message": message[:500], "at": now}


def mark_published(
    db: Database[Doc], post: Post, run_id: str, platform_post_id: str, now: datetime
) -> bool:
    return _finish(
        db,
        post,
        run_id,
        {
            "$set": {
                "status": "published",
                "platformPostId": platform_post_id,
                "publishedAt": now,
                "updatedAt": now,
            },
            "$unset": {"lease": "", "sendStartedAt": "", "lastError": ""},
            "$inc": {"attempts": 1},
        },
    )


def reschedule(
    db: Database[Doc],
    post: Post,
    run_id: str,
    *,
    due_at: datetime,
    error: ErrorInfo | None,
    spend_attempt: bool,
    now: datetime,
) -> bool:
    """Back to `scheduled`: a retry (attempt spent) or a deferral (rate limit, pause, hold)."""
    update: Doc = {
        "$set": {"status": "scheduled", "dueAt": due_at, "updatedAt": now},
        "$unset": {"lease": "", "sendStartedAt": ""},
    }
    if error is not None:
        update["$set"]["lastError"] = _error(error.code, error.message, now)
    if spend_attempt:
        update["$inc"] = {"attempts": 1}
    return _finish(db, post, run_id, update)


def _end(
    db: Database[Doc], post: Post, run_id: str, status: str, error: ErrorInfo, now: datetime
) -> bool:
    return _finish(
        db,
        post,
        run_id,
        {
            "$set": {
                "status": status,
                "lastError": _error(error.code, error.message, now),
                "updatedAt": now,
            },
            "$unset": {"lease": ""},
            "$inc": {"attempts": 1},
        },
    )


def mark_failed(
    db: Database[Doc], post: Post, run_id: str, error: ErrorInfo, now: datetime
) -> bool:
    return _end(db, post, run_id, "failed", error, now)


def mark_unknown(
    db: Database[Doc], post: Post, run_id: str, error: ErrorInfo, now: datetime
) -> bool:
    """The send may have happened; an operator (or reconciliation) decides, never a blind retry.

    `sendStartedAt` stays, so a later look on the platform knows when to search from.
    """
    return _end(db, post, run_id, "unknown", error, now)


# --- reading for people ---------------------------------------------------------------------


def count_by_status(db: Database[Doc]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for row in _collection(db).aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
        counts[str(row["_id"])] = int(row["n"])
    return counts


# Operators see everything but the lease internals; tokens never live on posts.
_LISTED_FIELDS = {"lease": 0}


def list_posts(
    db: Database[Doc],
    *,
    status: str | None = None,
    account_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[Doc]:
    query: Doc = {}
    if status is not None:
        query["status"] = status
    if account_id is not None:
        query["accountId"] = account_id
    due: Doc = {}
    if since is not None:
        due["$gte"] = since
    if until is not None:
        due["$lt"] = until
    if due:
        query["dueAt"] = due
    cursor = _collection(db).find(query, _LISTED_FIELDS).sort("dueAt", 1).limit(max(limit, 0))
    return list(cursor)


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
                "updatedAt": now,
            },
            "$unset": {"sendStartedAt": "", "lastError": ""},
        },
    )
    return bool(result.modified_count == 1)


def list_unknown(db: Database[Doc], limit: int) -> list[Post]:
    return [
        Post.from_doc(d)
        for d in _collection(db).find({"status": "unknown"}).sort("updatedAt", 1).limit(limit)
    ]
