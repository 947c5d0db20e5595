"""Reconciliation's reads and writes: the `unknown` posts to look for, and marking one found."""

from __future__ import annotations

from datetime import datetime

from pymongo.database import Database

from common import stats
from common.db import Doc
from common.model import Post
from common.posts.store import collection


def mark_found_published(
    db: Database[Doc], post: Post, platform_post_id: str, now: datetime
) -> bool:
    """Reconciliation found an `unknown` post on the platform: it is published after all."""
    result = collection(db).update_one(
        {"_id": post.id, "status": "unknown", "version": post.version},
        {
            "$set": {
                "status": "published",
                "platformPostId": platform_post_id,
                "publishedAt": now,
                "finishedAt": now,
                "updatedAt": now,
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
        for d in collection(db).find({"status": "unknown"}).sort("updatedAt", 1).limit(limit)
    ]
