"""Reading posts for people: filtered pages in a stable order, the API's opaque cursor, and
one post as operators see it (everything but the lease internals)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from common import accounts
from common.db import ACCOUNTS, POSTS, Doc
from common.model import Account
from common.posts.states import HOLDS_SLOT
from common.posts.store import collection
from common.slots import Schedule

# Operators see everything but the lease internals; tokens never live on posts.
_LISTED_FIELDS = {"lease": 0}


@dataclass(frozen=True)
class PostFilter:
    status: str | None = None
    account_id: str | None = None
    accounts_allowed: tuple[str, ...] | None = None  # None: every account
    due_after: datetime | None = None  # inclusive
    due_before: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Page:
    """Posts in (dueAt, _id) order; `after` is where the next page starts, None on the last."""

    rows: list[Doc]
    after: tuple[datetime, ObjectId] | None

    @property
    def cursor(self) -> str | None:
        """`after` as an opaque token for a caller to send back (parse_cursor reads it)."""
        if self.after is None:
            return None
        due, last_id = self.after
        raw = f"{(due - _EPOCH) // _MILLISECOND}.{last_id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# BSON dates hold milliseconds: the cursor keeps exactly what is stored.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def parse_cursor(token: str) -> tuple[datetime, ObjectId]:
    """Raises ValueError for anything Page.cursor did not make."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        millis, last_id = raw.split(".")
        due = _EPOCH + int(millis) * _MILLISECOND
    except (ValueError, UnicodeDecodeError, OverflowError, OSError) as exc:
        raise ValueError("not a cursor from this API") from exc
    if not ObjectId.is_valid(last_id):
        raise ValueError("not a cursor from this API")
    return due, ObjectId(last_id)


def list_page(
    db: Database[Doc],
    where: PostFilter,
    after: tuple[datetime, ObjectId] | None,
    limit: int,
) -> Page:
    """One page in a stable order: (dueAt, _id) is unique, so a page boundary never repeats or
    skips a post, even while others are added (served by the indexes in db.ensure_indexes)."""
    query = _filter_query(where)
    if after is not None:
        # A range on dueAt the index seeks to, then the ties already seen left out: both
        # conditions read only index keys (dueAt, _id).
        due, last_id = after
        bounds = query.setdefault("dueAt", {})
        bounds["$gte"] = max(bounds.get("$gte", due), due)
        query["$or"] = [{"dueAt": {"$gt": due}}, {"_id": {"$gt": last_id}}]
    found = (
        collection(db)
        .find(query, _LISTED_FIELDS)
        .sort([("dueAt", 1), ("_id", 1)])
        .limit(max(limit, 0) + 1)
    )
    rows = list(found)
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, (rows[-1]["dueAt"], rows[-1]["_id"]))


def _filter_query(where: PostFilter) -> Doc:
    query: Doc = {}
    if where.status is not None:
        query["status"] = where.status
    accounts: Doc = {}
    if where.accounts_allowed is not None:
        accounts["$in"] = list(where.accounts_allowed)
    if where.account_id is not None:
        accounts["$eq"] = where.account_id
    if accounts:
        query["accountId"] = accounts
    due: Doc = {}
    if where.due_after is not None:
        due["$gte"] = where.due_after
    if where.due_before is not None:
        due["$lt"] = where.due_before
    if due:
        query["dueAt"] = due
    return query


def get_document(db: Database[Doc], post_id: ObjectId) -> Doc | None:
    doc: Doc | None = collection(db).find_one({"_id": post_id}, _LISTED_FIELDS)
    return doc


def follow_ups_of(db: Database[Doc], post_id: ObjectId) -> list[Doc]:
    """The first comment and thread parts below a post, in order (ancestors_status): a thread
    has at most validation.MAX_THREAD_PARTS parts, so this read is bounded."""
    found = collection(db).find(
        {"ancestors": post_id},
        {"followUp": 1, "part": 1, "status": 1, "platformPostId": 1, "lastError": 1},
    )
    return sorted(found, key=lambda d: (d.get("followUp") != "thread", d.get("part", 1)))


@dataclass(frozen=True)
class Neighbour:
    """A scheduled post near a time, with just what a likeness check needs."""

    post_id: ObjectId
    account_id: str
    due_at: datetime
    text: str


_NEIGHBOUR_FIELDS = {"accountId": 1, "dueAt": 1, "content.text": 1}
_ACCOUNTS, _NEAR = "accounts", "scheduledNear"  # the combined read's two lists


def accounts_and_neighbours(
    db: Database[Doc], account_ids: Iterable[str], window: tuple[datetime, datetime] | None
) -> tuple[dict[str, Account], list[Neighbour]]:
    """The accounts by id, and their scheduled posts due in `window`, in one command: a create
    reads both before its insert, so the likeness warning costs no round trip of its own. The
    accounts are gathered into one document, so the neighbours are read once, not once per
    account (on the accountId_dueAt_id prefix). No window: the accounts alone."""
    ids = sorted(set(account_ids))
    pipeline: list[Doc] = [
        {"$match": {"_id": {"$in": ids}}},
        {"$group": {"_id": None, _ACCOUNTS: {"$push": "$$ROOT"}}},
    ]
    if window is not None:
        near = [{"$match": _between(ids, *window)}, {"$project": _NEIGHBOUR_FIELDS}]
        pipeline.append({"$lookup": {"from": POSTS, "pipeline": near, "as": _NEAR}})
    for doc in db[ACCOUNTS].aggregate(pipeline):
        known = {str(d["_id"]): Account.from_doc(d) for d in doc[_ACCOUNTS]}
        return known, [_neighbour(d) for d in doc.get(_NEAR, [])]
    return {}, []


def _between(account_ids: list[str], start: datetime, end: datetime) -> Doc:
    return {
        "accountId": {"$in": account_ids},
        "dueAt": {"$gte": start, "$lte": end},
        "status": "scheduled",
    }


def _neighbour(doc: Doc) -> Neighbour:
    text = str(doc["content"].get("text", ""))
    return Neighbour(doc["_id"], str(doc["accountId"]), doc["dueAt"], text)


_TAKEN = "taken"  # the slots read's list of times held


def slots_and_taken(
    db: Database[Doc], account_id: str, after: datetime, until: datetime
) -> tuple[Schedule, set[datetime]] | None:
    """The account's posting slots and the times its posts hold in (after, until], in one
    command (None: no such account, or no slots): a moved post holds its new time, a removed
    one none (the posts on the accountId_dueAt_id prefix, bounded by the window)."""
    held = {
        "accountId": account_id,
        "scheduledAt": {"$gt": after, "$lte": until},
        "status": {"$in": HOLDS_SLOT},
    }
    pipeline: list[Doc] = [
        {"$match": {"_id": account_id}},
        {"$project": {"slots": 1}},
        {
            "$lookup": {
                "from": POSTS,
                "pipeline": [{"$match": held}, {"$project": {"_id": 0, "scheduledAt": 1}}],
                "as": _TAKEN,
            }
        },
    ]
    for doc in db[ACCOUNTS].aggregate(pipeline):
        schedule = accounts.slots_in(doc)
        if schedule is None:
            return None
        return schedule, {_aware(d["scheduledAt"]) for d in doc[_TAKEN]}
    return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
