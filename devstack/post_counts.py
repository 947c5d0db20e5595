"""How many posts are in each status: for the local stack's banner and tests, never shipped.

A `$group` over the whole posts collection: fine on a developer's few posts, against the
bounded-work rule in production (DESIGN.md), so it lives outside `common/`.
"""

from __future__ import annotations

from pymongo.database import Database

from common.db import POSTS, Doc
from common.model import STATUSES


def count_by_status(db: Database[Doc]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for row in db[POSTS].aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
        counts[str(row["_id"])] = int(row["n"])
    return counts
