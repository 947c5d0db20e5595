"""The status report's queue figures, read in bounded index ranges (DESIGN.md "Bounded work").

Two aggregation pipelines, each over one status_dueAt_id range cut by a `$limit` before its
`$group`, so a report reads at most 2 x COUNT_CAP index keys however many posts wait: the open
window (publishing and scheduled, oldest due first: the due count, the lag and the next post)
and the attention window (unknown first, then failed). A figure that reaches the cap means "at
least". The status report runs both inside its one command (status.report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

from common.db import Doc
from common.posts.queue import NextPost, next_post

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


def open_window(now: datetime, cap: int = COUNT_CAP) -> list[Doc]:
    """At most one row: the counts of the open window."""
    scheduled = {"$eq": ["$status", "scheduled"]}
    due = {"$lte": ["$dueAt", now]}
    ahead = {"$and": [scheduled, {"$gt": ["$dueAt", now]}]}
    return [
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


def attention_window(cap: int = COUNT_CAP) -> list[Doc]:
    """One row per status found (unknown, failed) with its count."""
    # Unknown posts first (an operator must decide each), then failed ones (reverse index order).
    return [
        {"$match": {"status": {"$in": ["failed", "unknown"]}}},
        {"$sort": {"status": -1, "dueAt": -1}},
        {"$limit": cap},
        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]


def counts_of(
    db: Database[Doc],
    now: datetime,
    open_rows: Sequence[Doc],
    attention_rows: Sequence[Doc],
    cap: int = COUNT_CAP,
) -> QueueCounts:
    """The figures from the rows of the two windows. One more command (one index entry) only
    when the open window is full and so may have stopped before the next post."""
    open_ = open_rows[0] if open_rows else {}
    attention = {str(row["_id"]): int(row["n"]) for row in attention_rows}
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
