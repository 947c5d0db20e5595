"""Cloud Tasks records on posts (DISPATCH=tasks): which posts need a task, the task made for
each, the account's next post a task chains to, the claim a task makes when it runs, and the
outcomes tasks left on their posts for the tick to count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database

from common import stats
from common.db import Doc
from common.model import Post
from common.posts.lease import ClaimedPost, LeaseTerms
from common.posts.store import collection, starting_in


@dataclass(frozen=True)
class Upcoming:
    """A post the tick may enqueue: which version, due when, and the task recorded for it.

    The rest comes from a task record for an older version (an edit). `in_place`: the edit kept
    the due time, so the older version's turn (its task, or its place in the account's chain)
    passes to this version and its link `then` to the account's next post stays with it.
    `left_behind`: the edit moved the post, and the account's next post, which its old turn
    would have started, needs its task from somewhere else (the tick starts it)."""

    id: ObjectId
    version: int
    due_at: datetime
    task_recorded: bool
    account_id: str = ""
    in_place: bool = False
    then: Upcoming | None = None
    left_behind: Upcoming | None = None


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
    return [_upcoming(d) for d in cursor]


def upcoming_posts(db: Database[Doc], post_ids: Sequence[ObjectId]) -> list[Upcoming]:
    """These posts as `upcoming` reads them, those still `scheduled`, oldest first: one find."""
    cursor = collection(db).find(
        starting_in("record_task", None, _id={"$in": list(post_ids)}),
        {"_id": 1, "version": 1, "dueAt": 1, "task": 1, "accountId": 1},
    )
    return sorted((_upcoming(d) for d in cursor), key=lambda p: (p.due_at, p.id))


def released_follow_ups(db: Database[Doc], parent_id: ObjectId) -> list[Upcoming]:
    """The follow-ups its publication released (due now, still `scheduled`), as `upcoming`
    reads them, oldest first: one find on the ancestors_status index."""
    cursor = collection(db).find(
        starting_in("record_task", None, ancestors=parent_id, parentId=parent_id),
        {"_id": 1, "version": 1, "dueAt": 1, "task": 1, "accountId": 1},
    )
    return sorted((_upcoming(d) for d in cursor), key=lambda p: (p.due_at, p.id))


@dataclass(frozen=True)
class InChain:
    """A post in its account's chain of tasks (a task recorded for its due time): `scheduled`,
    waiting for its task, or `publishing`, its task running; `then` is its link now."""

    id: ObjectId
    account_id: str
    due_at: datetime
    then: Upcoming | None


def in_chains(
    db: Database[Doc], account_ids: Sequence[str], after: datetime, until: datetime
) -> list[InChain]:
    """The posts of these accounts due in (after, until] that are in a chain of tasks, oldest
    first: one accountId_dueAt_id range per account, in one find."""
    cursor = collection(db).find(
        {
            "accountId": {"$in": list(account_ids)},
            "dueAt": {"$gt": after, "$lte": until},
            "status": {"$in": ["scheduled", "publishing"]},
            "task": {"$exists": True},
        },
        {"_id": 1, "dueAt": 1, "task": 1, "accountId": 1},
    )
    found = [
        InChain(d["_id"], str(d["accountId"]), d["dueAt"], chained_next(d, d["dueAt"]))
        for d in cursor
        if d["task"]["for"][1] == d["dueAt"]
    ]
    return sorted(found, key=lambda p: (p.due_at, p.id))


def link_after(db: Database[Doc], before: InChain, post: Upcoming) -> bool:
    """Make `post` the next of `before` in its chain, if `before` is still in it with the same
    link (one command): its task then creates `post`'s (a `publishing` post's settle reads its
    link afresh). False when `before` finished or changed meanwhile."""
    then = None if before.then is None else _link_value(before.then)
    result = collection(db).update_one(
        {
            "_id": before.id,
            "dueAt": before.due_at,
            "status": {"$in": ["scheduled", "publishing"]},
            "task.for.1": before.due_at,
            "task.then": then if then is not None else {"$exists": False},
        },
        {"$set": {"task.then": _link_value(post)}},
    )
    return bool(result.matched_count == 1)


def _link_value(post: Upcoming) -> list[Any]:
    return [post.id, post.version, post.due_at]


def _upcoming(doc: Doc) -> Upcoming:
    record = doc.get("task") or {}
    link = _link(record)
    # The record names the version and due time: an edit or a reschedule needs a new one.
    recorded = record.get("for") == [int(doc["version"]), doc["dueAt"]]
    kept = bool(record) and record["for"][1] == doc["dueAt"]
    return Upcoming(
        doc["_id"],
        int(doc["version"]),
        doc["dueAt"],
        recorded,
        str(doc["accountId"]),
        in_place=kept and not recorded,
        then=link if kept else None,
        left_behind=None if kept else link,
    )


def _link(record: Mapping[str, Any]) -> Upcoming | None:
    then = record.get("then")
    return Upcoming(then[0], int(then[1]), then[2], task_recorded=True) if then else None


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
                {"$set": _record_update(post, name, now, chained.get(post.id))},
            )
            for post, name in enqueued
        ],
        ordered=False,
    )


def _record_update(post: Upcoming, name: str, now: datetime, then: Upcoming | None) -> Doc:
    if post.in_place and then is None:
        # The version takes its older version's place: the stored link stays as it is now
        # (a post linked after it meanwhile, link_after, is not dropped).
        return {"task.name": name, "task.for": [post.version, post.due_at], "task.at": now}
    return {"task": _task_record(post, name, now, then or post.then)}


def _task_record(post: Upcoming, name: str, now: datetime, then: Upcoming | None) -> Doc:
    record: Doc = {"name": name, "for": [post.version, post.due_at], "at": now}
    if then is not None:
        record["then"] = _link_value(then)
    return record


def chained_next(doc: Mapping[str, Any], due_at: datetime) -> Upcoming | None:
    """The next post of the account whose task the post's task for `due_at` creates.

    The link belongs to the post's place in the account's order, its due time, not to a
    version: an edit that keeps the time keeps the link (the edited version's task hands the
    turn on), and a task of an older version still finds it."""
    record = doc.get("task") or {}
    if record.get("for", [None, None])[1] != due_at:
        return None
    return _link(record)


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
    return TaskClaim(claimed, chained_next(doc, due_at))


def take_uncounted(db: Database[Doc], tally: stats.FinishedTally, now: datetime, limit: int) -> int:
    """Add to `tally` the posts a task finished and marked `uncounted` (its settle), and take
    the mark off them; how many. Two commands (one when there are none); the tick calls it, so
    the status figures cost no write per task and lag by at most one tick. Taken off before the
    tally is written: a tick that dies in between loses those figures rather than counting
    them twice."""
    found = list(
        collection(db)
        .find({"uncounted.at": {"$lte": now}}, {"uncounted": 1, "scheduledAt": 1})
        .sort("uncounted.at", 1)
        .limit(limit)
    )
    if not found:
        return 0
    collection(db).update_many(
        {"_id": {"$in": [d["_id"] for d in found]}}, {"$unset": {"uncounted": ""}}
    )
    for doc in found:
        mark = doc["uncounted"]
        if mark["outcome"] == "published":
            tally.published(doc["scheduledAt"], mark["at"])
        else:
            tally.failed(mark["at"])
    return len(found)
