"""The run's queue: what is due, who died holding posts, what comes next (the claim that takes
them is the lease's: `lease.claim`).

Three indexed queries find the work, and conditional updates take it: a post is won only if
it is still in the state it was found in, so two runners never both hold one post.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

from common.db import Doc
from common.model import Post
from common.posts.store import collection, starting_in


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
        collection(db)
        .find(starting_in("claim", now, dueAt={"$lte": until}), _WITHOUT_CONTENT)
        .sort("dueAt", 1)
        .limit(limit)
    )
    abandoned = (
        collection(db)
        .find(starting_in("take_over", now), _WITHOUT_CONTENT)
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
    doc = collection(db).find_one(
        starting_in("claim", now, dueAt={"$gt": now}),
        {"_id": 0, "platform": 1, "dueAt": 1},
        sort=[("dueAt", 1)],
    )
    return None if doc is None else NextPost(str(doc["platform"]), doc["dueAt"])


def renew_leases(db: Database[Doc], run_id: str, expires_at: datetime) -> int:
    result = collection(db).update_many(
        starting_in("hold", None, **{"lease.runId": run_id}),
        {"$set": {"lease.expiresAt": expires_at}},
    )
    return int(result.modified_count)


def release_unsent(db: Database[Doc], run_id: str, now: datetime) -> int:
    """Give back claimed posts this run never started (budget spent or lock lost)."""
    result = collection(db).update_many(
        starting_in("release_unsent", now, **{"lease.runId": run_id}),
        {"$set": {"status": "scheduled", "updatedAt": now}, "$unset": {"lease": ""}},
    )
    return int(result.modified_count)
