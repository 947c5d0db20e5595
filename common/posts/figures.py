"""The status report's queue figures, read in bounded index ranges (DESIGN.md "Bounded work").

Two aggregations, each over one status_dueAt_id range cut by a `$limit` before its `$group`,
so a report reads at most 2 x COUNT_CAP index keys however many posts wait: the open window
(publishing and scheduled, oldest due first: the due count, the lag and the next post) and the
attention window (unknown first, then failed). A figure that reaches the cap means "at least".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

from common.db import Doc
from common.posts.queue import NextPost, next_post
from common.posts.store import collection

# Index keys one window may read; beyond it a backlog is reported as "at least" this many.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class QueueCounts:
    scheduled: int
    due: int  # scheduled and due now
    failed: int
    unknown: int
    oldest_due: datetime | None  # the oldest due post not yet published (lag)
    next_post: NextPost | None


def _open_window(db: Database[Doc], now: datetime, cap: int) -> Doc:
    scheduled = {"$eq": ["$status", "scheduled"]}
    due = {"$lte": ["$dueAt", now]}
    ahead = {"$and": [scheduled, {"$gt": ["$dueAt", now]}]}
    pipeline: list[Doc] = [
        {"$match": {"status": {"$in": ["publishing", "scheduled"]}}},
        {"$sort": {"dueAt": 1}},
        {"$limit": cap},
        {
            "$group": {
                "_id": None,
                "n": {"$sum": 1},
                "scheduled": {"$sum": {"$cond": [scheduled, 1, 0]}},
                "due": {"$sum": {"$cond": [{"$and": [scheduled, due]}, 1, 0]}},
                "oldestDue": {"$min": {"$cond": [due, "$dueAt", None]}},
                # Documents compare field by field: the earliest dueAt wins.
                "next": {
                    "$min": {"$cond": [ahead, {"dueAt": "$dueAt", "platform": "$platform"}, None]}
                },
            }
        },
    ]
    return next(iter(collection(db).aggregate(pipeline)), {})


def _attention_window(db: Database[Doc], cap: int) -> dict[str, int]:
    # Unknown posts first (an operator must decide each), then failed ones (reverse index order).
    pipeline: list[Doc] = [
        {"$match": {"status": {"$in": ["failed", "unknown"]}}},
        {"$sort": {"status": -1, "dueAt": -1}},
        {"$limit": cap},
        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]
    return {str(row["_id"]): int(row["n"]) for row in collection(db).aggregate(pipeline)}


def queue_counts(db: Database[Doc], now: datetime, cap: int = COUNT_CAP) -> QueueCounts:
    """Two commands; a third (one index entry) only when the open window is full and so may
    have stopped before the next post."""
    open_ = _open_window(db, now, cap)
    attention = _attention_window(db, cap)
    found = open_.get("next")
    upcoming: NextPost | None = (
        NextPost(str(found["platform"]), found["dueAt"]) if found is not None else None
    )
    if upcoming is None and int(open_.get("n", 0)) >= cap:
        upcoming = next_post(db, now)
    return QueueCounts(
        scheduled=int(open_.get("scheduled", 0)),
        due=int(open_.get("due", 0)),
        failed=attention.get("failed", 0),
        unknown=attention.get("unknown", 0),
        oldest_due=open_.get("oldestDue"),
        next_post=upcoming,
    )
