"""Follow-ups: a first comment and a thread's parts, each a post of its own.

    waiting --parent published--> scheduled (due now, `replyTo` set) --claim--> ...
    waiting --a part above failed or was canceled--> failed / canceled (`parent_failed`...)
    failed (parent_failed) --the failed part retried--> waiting

A follow-up names its parent, the thread's root and every post above it (`ancestors`, served
by the ancestors_status index), so each of these is one conditional write, filtered by the
table of starting states. Only a post marked `hasFollowUps` pays for them: a plain post's
publication costs no command more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from bson import ObjectId
from pymongo.database import Database

from common.db import Doc
from common.model import PARENT_CANCELED, PARENT_FAILED, Post
from common.posts.store import collection, starting_in


def reply_refs(parent: Post, platform_post_id: str, refs: Mapping[str, str] | None) -> Doc:
    """What a reply to `parent` names: the parent (`id`, and e.g. Bluesky's `cid`) and the
    thread's first post (`rootId`, `rootCid`): the parent itself when it is the first post,
    else the root its own reply named."""
    own: dict[str, str] = {"id": platform_post_id, **(refs or {})}
    if parent.follow_up is None:
        root = {f"root{k[0].upper()}{k[1:]}": v for k, v in own.items()}
    else:
        root = {k: v for k, v in parent.reply_to.items() if k.startswith("root")}
    return {**own, **root}


def release(
    db: Database[Doc],
    parent: Post,
    platform_post_id: str,
    refs: Mapping[str, str] | None,
    now: datetime,
) -> int:
    """The parent is on the platform: its waiting follow-ups are due now, with what they reply
    to. Written before the parent's own outcome, so a runner dying between the two writes
    leaves the parent to be found by a look and the children released either way."""
    result = collection(db).update_many(
        # `ancestors` leads, so the ancestors_status index serves it; `parentId` narrows.
        starting_in("release_follow_up", now, ancestors=parent.id, parentId=parent.id),
        {
            "$set": {
                "status": "scheduled",
                "dueAt": now,
                "releasedAt": now,
                "replyTo": reply_refs(parent, platform_post_id, refs),
                "updatedAt": now,
            },
            "$inc": {"version": 1},
        },
    )
    return int(result.modified_count)


def stop(
    db: Database[Doc], post_id: ObjectId, status: Literal["failed", "canceled"], now: datetime
) -> int:
    """A part failed or was canceled: every part waiting below it ends the same way, saying
    why (`parent_failed` / `parent_canceled`), instead of waiting for ever."""
    code, verb = (PARENT_FAILED, "failed") if status == "failed" else (PARENT_CANCELED, "canceled")
    error = {"code": code, "message": f"a part before it {verb}: not published", "at": now}
    result = collection(db).update_many(
        starting_in("stop_follow_up", now, ancestors=post_id),
        {
            "$set": {"status": status, "lastError": error, "finishedAt": now, "updatedAt": now},
            "$inc": {"version": 1},
        },
    )
    return int(result.modified_count)


def revive(db: Database[Doc], post_id: ObjectId, now: datetime) -> int:
    """The failed part is retried: the parts its failure stopped wait for it again."""
    result = collection(db).update_many(
        starting_in(
            "revive_follow_up", now, ancestors=post_id, **{"lastError.code": PARENT_FAILED}
        ),
        {
            "$set": {"status": "waiting", "updatedAt": now},
            "$unset": {"lastError": "", "finishedAt": ""},
            "$inc": {"version": 1},
        },
    )
    return int(result.modified_count)
