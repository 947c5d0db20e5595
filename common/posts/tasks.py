"""Cloud Tasks records on posts (DISPATCH=tasks): which posts need a task, the task made for
each, the account's next post a task chains to, and the claim a task makes when it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database

from common.db import Doc
from common.model import Post
from common.posts.lease import ClaimedPost, LeaseTerms
from common.posts.store import collection, starting_in


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
        collection(db)
        .find(
            starting_in("record_task", None, dueAt={"$gt": after, "$lte": until}),
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
    collection(db).bulk_write(
        [
            UpdateOne(
                starting_in(
                    "record_task", now, _id=post.id, version=post.version, dueAt=post.due_at
                ),
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
    doc = collection(db).find_one_and_update(
        starting_in("claim_for_task", now, _id=post_id, version=version, dueAt=due_at),
        {"$set": {"status": "publishing", "lease": lease_doc, "updatedAt": now}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        return None
    claimed = ClaimedPost(db, Post.from_doc(doc), terms)
    return TaskClaim(claimed, chained_next(doc, version, due_at))
