"""An operator's actions on one post (cancel, edit, retry, and the review: submit, approve,
send back) and the release of held posts.

Each is one conditional write: the filter names the states the action may start from
(common.transitions.starts.ALLOWED), so a post that moved on meanwhile (claimed and sent,
published) is left as it is and the caller learns it from the count; starts.refusal says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bson import ObjectId
from pymongo.database import Database

from common.clock import ScheduledTime
from common.db import Doc
from common.model import ACCOUNT_INACTIVE, AUTH_EXPIRED, Content, PostStatus
from common.posts import follow_ups
from common.posts.store import collection, starting_in


def cancel(db: Database[Doc], post_id: ObjectId, now: datetime) -> bool:
    """Cancel a post unless it is published or its send has begun, and the follow-ups waiting
    below it. Bumps `version`."""
    before = collection(db).find_one_and_update(
        starting_in("cancel", now, _id=post_id),
        {
            "$set": {"status": "canceled", "finishedAt": now, "updatedAt": now},
            "$unset": {"lease": ""},
            "$inc": {"version": 1},
        },
        projection={"hasFollowUps": 1},
    )
    if before is None:
        return False
    if before.get("hasFollowUps"):
        follow_ups.stop(db, post_id, "canceled", now)
    return True


def edit_content(
    db: Database[Doc],
    post_id: ObjectId,
    content: Content,
    now: datetime,
    *,
    when: ScheduledTime | None = None,
    version: int | None = None,
    request_hash: str | None = None,
    draft: bool = False,
) -> bool:
    """Replace the content (and the time, when given), only at `version` when given.

    A claimed post goes back to `scheduled` so the new text is sent; a draft stays a draft
    (`draft`: the caller read it as one; only a draft matches then). `request_hash`: what the
    request now says (a CSV row edited by re-import), so the same row again changes nothing.
    """
    match = starting_in("edit", now, _id=post_id)
    if version is not None:
        match["version"] = version
    if draft:
        match["status"] = "draft"
    status = "draft" if draft else "scheduled"
    # `detached`: a series occurrence edited on its own keeps its edit when the series changes.
    sets: Doc = {"content": content.to_doc(), "status": status, "detached": True, "updatedAt": now}
    if request_hash is not None:
        sets["requestHash"] = request_hash
    if when is not None:
        sets.update(
            scheduledAt=when.instant,
            timeZone=when.time_zone,
            localTime=when.local_time,
            dueAt=when.instant,
        )
    # A post moved to another time leaves its posting slot free (its reservation goes).
    unsets = {"lease": ""} if when is None else {"lease": "", "slotKey": ""}
    result = collection(db).update_one(
        match, {"$set": sets, "$unset": unsets, "$inc": {"version": 1}}
    )
    return bool(result.modified_count == 1)


def retry(db: Database[Doc], post_id: ObjectId, now: datetime) -> bool:
    """Operator retry: a failed or unknown post is scheduled again, due now, attempts reset;
    the follow-ups its failure stopped wait for it again."""
    before = collection(db).find_one_and_update(
        starting_in("retry", now, _id=post_id),
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
        projection={"hasFollowUps": 1},
    )
    if before is None:
        return False
    if before.get("hasFollowUps"):
        follow_ups.revive(db, post_id, now)
    return True


_REVIEWED: dict[str, PostStatus] = {
    "submit": "pending_approval",
    "approve": "scheduled",
    "send_back": "draft",
}


def review(
    db: Database[Doc],
    post_id: ObjectId,
    action: Literal["submit", "approve", "send_back"],
    now: datetime,
    *,
    comment: str | None = None,
) -> bool:
    """Move a post through its review: a draft is submitted, a submitted post approved (it is
    then due at its time, like any scheduled post) or sent back to draft with `comment`."""
    sets: Doc = {"status": _REVIEWED[action], "updatedAt": now}
    unsets: Doc = {}
    if comment is not None:
        sets["reviewComment"] = comment
    else:
        unsets["reviewComment"] = ""
    update: Doc = {"$set": sets, "$inc": {"version": 1}}
    if unsets:
        update["$unset"] = unsets
    result = collection(db).update_one(starting_in(action, now, _id=post_id), update)
    return bool(result.modified_count == 1)


def end_group(db: Database[Doc], group_id: str, now: datetime) -> int:
    """Cancel a group's posts not yet on their way (an ended series): one write."""
    result = collection(db).update_many(
        starting_in("end_series", now, groupId=group_id),
        {
            "$set": {"status": "canceled", "finishedAt": now, "updatedAt": now},
            "$unset": {"lease": ""},
            "$inc": {"version": 1},
        },
    )
    return int(result.modified_count)


def hand_over_group(db: Database[Doc], group_id: str, since: datetime, now: datetime) -> int:
    """Cancel a group's posts from `since` on that are not yet on their way and were not edited
    on their own (a series split: its successor makes them again), one write. Their
    idempotency keys go, so the successor's posts take the same keys; an edited post keeps its
    key, so the successor passes its occurrence by instead of making it twice."""
    result = collection(db).update_many(
        starting_in(
            "end_series",
            now,
            groupId=group_id,
            scheduledAt={"$gte": since},
            detached={"$ne": True},
        ),
        {
            "$set": {"status": "canceled", "finishedAt": now, "updatedAt": now},
            "$unset": {"lease": "", "idempotencyKey": ""},
            "$inc": {"version": 1},
        },
    )
    return int(result.modified_count)


def release_held(db: Database[Doc], account_id: str, now: datetime) -> int:
    """After re-authentication: the account's posts held for it are due again now."""
    result = collection(db).update_many(
        starting_in(
            "release_held",
            now,
            accountId=account_id,
            **{"lastError.code": {"$in": [AUTH_EXPIRED, ACCOUNT_INACTIVE]}},
        ),
        {"$set": {"dueAt": now, "updatedAt": now}, "$unset": {"lastError": ""}},
    )
    return int(result.modified_count)
