"""Creating posts and reading one back: the posts collection's documents and their shape.

Every write to a post lives in this package (tests/test_posts_package.py): creation and bulk
import here, operator actions in `actions`, the run's claim in `queue`, the lease's writes in
`lease`, Cloud Tasks records in `tasks`, reconciliation in `reconcile`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from common.clock import ScheduledTime
from common.db import POSTS, Doc
from common.jsonfmt import to_rfc3339
from common.model import Content, FollowUp, FollowUpKind, Post, Stage
from common.posts.states import HOLDS_SLOT, starting_filter
from common.transitions.starts import Action


def collection(db: Database[Doc]) -> Any:
    """The posts collection, for this package's modules only."""
    return db[POSTS]


def starting_in(action: Action, now: datetime | None, **conditions: Any) -> Doc:
    """A filter: the caller's conditions, and a state `action` may start from."""
    return {**conditions, **starting_filter(action, now)}


@dataclass(frozen=True)
class NewFollowUp:
    """A follow-up asked for with a new post: a first comment, or a thread's next part."""

    kind: FollowUpKind
    content: Content


@dataclass(frozen=True)
class NewPost:
    account_id: str
    platform: str
    content: Content
    when: ScheduledTime
    group_id: str | None = None
    # Unique over all posts (db.ensure_indexes): the same request never makes a second post.
    idempotency_key: str | None = None
    request_hash: str | None = None  # what the request carrying the key said (API replays)
    stage: Stage = "scheduled"  # a draft or a post awaiting approval is never claimed
    queued: bool = False  # put in a posting slot: it reserves the slot (slot_key)
    # Published after it, in order: thread parts each answer the part before (the first part
    # answers the post); a first comment answers the post itself.
    follow_ups: tuple[NewFollowUp, ...] = ()


def slot_key(account_id: str, instant: datetime) -> str:
    """Names an account's slot at one instant: unique over posts (db.INDEXES `slotKey`)."""
    return f"{account_id}|{to_rfc3339(instant)}"


def _new_document(new: NewPost, status: str, now: datetime) -> Doc:
    doc: Doc = {
        "accountId": new.account_id,
        "platform": new.platform,
        "groupId": new.group_id,
        "content": new.content.to_doc(),
        "scheduledAt": new.when.instant,
        "timeZone": new.when.time_zone,
        "localTime": new.when.local_time,
        "dueAt": new.when.instant,
        "status": status,
        "version": 1,
        "attempts": 0,
        "remote": {},
        "createdAt": now,
        "updatedAt": now,
    }
    if new.idempotency_key is not None:
        doc["idempotencyKey"] = new.idempotency_key
    if new.request_hash is not None:
        doc["requestHash"] = new.request_hash
    if new.queued:
        doc["slotKey"] = slot_key(new.account_id, new.when.instant)
    return doc


def _with_follow_ups(new: NewPost, status: str, now: datetime) -> list[Doc]:
    """The post and its follow-ups as documents, the post first: ids are made here, so the
    whole tree is one insert (ordered: a repeated post's key stops it before any child)."""
    root = {**_new_document(new, status, now), "_id": ObjectId()}
    if not new.follow_ups:
        return [root]
    root["hasFollowUps"] = True
    docs, parent, part = [root], root, 0
    for follow_up in sorted(new.follow_ups, key=lambda f: f.kind != "thread"):
        # Thread parts chain from the post; a first comment answers the post itself.
        above = parent if follow_up.kind == "thread" else root
        part = part + 1 if follow_up.kind == "thread" else 1
        docs.append(_follow_up_document(new, follow_up, above, root, part, now))
        if follow_up.kind == "thread":
            parent["hasFollowUps"] = True
            parent = docs[-1]
    return docs


def _follow_up_document(
    new: NewPost, follow_up: NewFollowUp, parent: Doc, root: Doc, part: int, now: datetime
) -> Doc:
    bare = NewPost(new.account_id, new.platform, follow_up.content, new.when)
    place = FollowUp(
        parent_id=parent["_id"],
        root_id=root["_id"],
        ancestors=(*parent.get("ancestors", ()), parent["_id"]),
        kind=follow_up.kind,
        part=part,
    )
    return {**_new_document(bare, "waiting", now), "_id": ObjectId(), **place.to_doc()}


@dataclass(frozen=True)
class SlotTaken:
    """Another post reserved this slot first (two posts queued at the same moment)."""

    key: str


@dataclass(frozen=True)
class Existing:
    """A post made earlier by the same request (same idempotency key)."""

    post_id: ObjectId
    status: str
    request_hash: str | None


def insert_once(db: Database[Doc], new: NewPost, now: datetime) -> ObjectId | Existing | SlotTaken:
    """Insert a scheduled post, or name the one its idempotency key already made, or say that
    its posting slot was reserved first (a queued post).

    One command in the common case: the unique indexes, not a read first, detect the repeat and
    the taken slot, so two identical requests racing still make one post, and two posts queued
    at the same moment never share a slot.
    """
    docs = _with_follow_ups(new, new.stage, now)
    try:
        if len(docs) == 1:
            collection(db).insert_one(docs[0])
        else:
            collection(db).insert_many(docs, ordered=True)
    except (DuplicateKeyError, BulkWriteError) as exc:
        found = existing_keys(db, [new.idempotency_key or ""])
        if found:
            return next(iter(found.values()))
        if new.queued and _refused_by(exc, "slotKey"):
            return SlotTaken(slot_key(new.account_id, new.when.instant))
        raise
    inserted: ObjectId = docs[0]["_id"]
    return inserted


def _refused_by(exc: DuplicateKeyError | BulkWriteError, index: str) -> bool:
    # MongoDB names the refusing index in the message ("... index: slotKey dup key: ...");
    # an insert of a post with its follow-ups reports it as the first write error.
    details = exc.details or {}
    if isinstance(exc, BulkWriteError):
        details = (details.get("writeErrors") or [{}])[0]
    return f"index: {index} " in str(details.get("errmsg", ""))


def free_stale_slots(db: Database[Doc], keys: Sequence[str]) -> int:
    """Take these slot reservations back from posts that no longer hold their slot (canceled,
    failed): one conditional write, so a post still there keeps its own. (A post moved to
    another time gives its reservation up at once: actions.edit_content.)"""
    if not keys:
        return 0
    result = collection(db).update_many(
        {"slotKey": {"$in": list(keys)}, "status": {"$nin": HOLDS_SLOT}},
        {"$unset": {"slotKey": ""}},
    )
    return int(result.modified_count)


def existing_keys(db: Database[Doc], keys: Sequence[str]) -> dict[str, Existing]:
    """The posts already made for these idempotency keys, by key."""
    if not keys:
        return {}
    found = collection(db).find(
        {"idempotencyKey": {"$in": list(keys)}},
        {"idempotencyKey": 1, "status": 1, "requestHash": 1},
    )
    return {
        d["idempotencyKey"]: Existing(d["_id"], str(d["status"]), d.get("requestHash"))
        for d in found
    }


def create(
    db: Database[Doc],
    *,
    account_id: str,
    platform: str,
    content: Content,
    when: ScheduledTime,
    now: datetime,
    group_id: str | None = None,
    follow_ups: Sequence[NewFollowUp] = (),
) -> ObjectId:
    new = NewPost(account_id, platform, content, when, group_id, follow_ups=tuple(follow_ups))
    docs = _with_follow_ups(new, new.stage, now)
    collection(db).insert_many(docs, ordered=True)
    inserted: ObjectId = docs[0]["_id"]
    return inserted


# Bulk import: rows are staged as `importing` (matched by no run's query) and become
# `scheduled` together once every row is in, or are removed if any insert fails.


def stage_many(
    db: Database[Doc], new_posts: Sequence[NewPost], import_id: str, now: datetime
) -> list[ObjectId]:
    docs = [{**_new_document(p, "importing", now), "importId": import_id} for p in new_posts]
    if not docs:
        return []
    return list(collection(db).insert_many(docs, ordered=True).inserted_ids)


def activate_import(db: Database[Doc], import_id: str, now: datetime) -> int:
    result = collection(db).update_many(
        starting_in("activate_import", now, importId=import_id),
        {"$set": {"status": "scheduled", "updatedAt": now}, "$unset": {"importId": ""}},
    )
    return int(result.modified_count)


def discard_import(db: Database[Doc], import_id: str) -> None:
    collection(db).delete_many(starting_in("discard_import", None, importId=import_id))


def get(db: Database[Doc], post_id: ObjectId) -> Post | None:
    doc = collection(db).find_one({"_id": post_id})
    return None if doc is None else Post.from_doc(doc)


# Statuses after which a post never needs its media again (common.operations.media's sweep).
FINISHED = ("published", "failed", "canceled")


def uses_media(db: Database[Doc], media_id: str) -> bool:
    """Whether a post that may still be published carries this uploaded item (one indexed read:
    mediaId_status)."""
    found = collection(db).find_one(
        {"content.media.mediaId": media_id, "status": {"$nin": list(FINISHED)}}, {"_id": 1}
    )
    return found is not None


def store_permalink(db: Database[Doc], post_id: ObjectId, link: str, now: datetime) -> bool:
    """Keep a published post's permalink, read from its network (Instagram, Threads)."""
    result = collection(db).update_one(
        {"_id": post_id, "status": "published"},
        {"$set": {"permalink": link, "permalinkReadAt": now}},
    )
    return bool(result.matched_count == 1)
