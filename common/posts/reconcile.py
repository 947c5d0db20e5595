"""Reconciliation's reads and writes: the `unknown` posts to look for, and marking one found."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pymongo.database import Database

from common import stats
from common.db import Doc
from common.model import Post
from common.posts import follow_ups
from common.posts.store import collection, starting_in


def mark_found_published(
    db: Database[Doc],
    post: Post,
    platform_post_id: str,
    now: datetime,
    refs: Mapping[str, str] | None = None,
) -> bool:
    """Reconciliation found an `unknown` post on the platform: it is published after all, and
    its waiting follow-ups are released (first: see follow_ups.release)."""
    if post.has_follow_ups:
        follow_ups.release(db, post, platform_post_id, refs, now)
    stored = {f"remote.{k}": v for k, v in (refs or {}).items()}
    result = collection(db).update_one(
        starting_in("mark_found", now, _id=post.id, version=post.version),
        {
            "$set": {
                **stored,
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
    """The posts reconciliation may mark found, longest waiting first."""
    return [
        Post.from_doc(d)
        for d in collection(db)
        .find(starting_in("mark_found", None))
        .sort("updatedAt", 1)
        .limit(limit)
    ]
