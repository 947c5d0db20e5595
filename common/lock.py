"""The execution lock: one runner at a time, with a fencing number and tick de-duplication.

acquire() -> LockHandle (renew, release) | Held | DuplicateTick. Nobody else touches the lock
fields of the scheduler_state document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from common.db import SCHEDULER_STATE, Doc
from common.run_summary import RunSummary

STATE_ID = "scheduler_state"
RECENT_TICKS_KEPT = 200  # about three hours of minute ticks: far beyond Pub/Sub's redelivery
RECENT_RUNS_KEPT = 50


@dataclass(frozen=True)
class Held:
    holder: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class DuplicateTick:
    message_id: str


class LockHandle:
    """This run's hold on the lock. Every write is conditional on still being the holder."""

    def __init__(self, db: Database[Doc], run_id: str, fence: int, ttl: timedelta) -> None:
        self._db = db
        self.run_id = run_id
        self.fence = fence
        self.ttl = ttl

    def _held_by_me(self) -> Doc:
        # run ids are unique, so the holder alone identifies this acquisition; the fence
        # number travels on every post lease for audits and ordering.
        return {"_id": STATE_ID, "lock.holder": self.run_id}

    def renew(self, now: datetime) -> bool:
        """Push the expiry out; False means the lock expired and another runner took it."""
        result = self._db[SCHEDULER_STATE].update_one(
            self._held_by_me(), {"$set": {"lock.expiresAt": now + self.ttl}}
        )
        return bool(result.matched_count == 1)

    def release(self, run: RunSummary) -> bool:
        """Record the run and free the lock in one update.

        If the lock was taken over meanwhile, the record is still kept (without touching the
        new holder's lock) and False is returned.
        """
        stats: Doc = {
            "$set": {
                "lastRunAt": run.finished_at,
                "lastRunDuration": round(run.duration, 3),
                "lastRunStatus": run.status,
                "lastRunError": run.error,
                "nextScheduledPost": run.next_scheduled_post,
            },
            "$inc": {
                "totalExecutions": 1,
                "totalPostsPublished": run.counts.published,
                "totalPostsFailed": run.counts.failed,
            },
            "$push": {"recentRuns": {"$each": [run.to_record()], "$slice": -RECENT_RUNS_KEPT}},
        }
        collection = self._db[SCHEDULER_STATE]
        released = collection.update_one(self._held_by_me(), {**stats, "$unset": {"lock": ""}})
        if released.matched_count == 1:
            return True
        stats["$set"]["lastRunStatus"] = "lock_lost"
        collection.update_one({"_id": STATE_ID}, stats)
        return False


def acquire(
    db: Database[Doc],
    run_id: str,
    now: datetime,
    ttl: timedelta,
    message_id: str | None = None,
) -> LockHandle | Held | DuplicateTick:
    """One atomic find_one_and_update: free or expired lock, and a tick not seen before."""
    conditions: Doc = {"$or": [{"lock": None}, {"lock.expiresAt": {"$lt": now}}]}
    update: Doc = {
        "$set": {"lock": {"holder": run_id, "acquiredAt": now, "expiresAt": now + ttl}},
        "$inc": {"fence": 1},
    }
    if message_id is not None:
        conditions["recentTicks"] = {"$ne": message_id}
        update["$push"] = {"recentTicks": {"$each": [message_id], "$slice": -RECENT_TICKS_KEPT}}
    try:
        doc = db[SCHEDULER_STATE].find_one_and_update(
            {"_id": STATE_ID, **conditions},
            update,
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:
        # The document exists but did not match: the lock is held or the tick was seen.
        return _why_not_acquired(db, message_id)
    if doc is None:  # upsert with ReturnDocument.AFTER always returns a document
        raise RuntimeError("lock upsert returned no document")
    fence = int(doc["fence"])
    return LockHandle(db, run_id, fence, ttl)


def _why_not_acquired(db: Database[Doc], message_id: str | None) -> Held | DuplicateTick:
    doc: dict[str, Any] = (
        db[SCHEDULER_STATE].find_one({"_id": STATE_ID}, {"lock": 1, "recentTicks": 1}) or {}
    )
    if message_id is not None and message_id in (doc.get("recentTicks") or []):
        return DuplicateTick(message_id)
    lock = doc.get("lock") or {}
    return Held(holder=lock.get("holder"), expires_at=lock.get("expiresAt"))


def add_task_outcome(db: Database[Doc], *, published: int, failed: int) -> None:
    """DISPATCH=tasks: a post finished by the publish function counts in the same totals a run
    adds at its release (the runs only count what they published themselves)."""
    db[SCHEDULER_STATE].update_one(
        {"_id": STATE_ID},
        {"$inc": {"totalPostsPublished": published, "totalPostsFailed": failed}},
        upsert=True,
    )


# The tick and run histories: status reads a few fields, not 250 history entries.
_WITHOUT_HISTORIES: Doc = {"recentTicks": 0, "recentRuns": 0}


def read_state(db: Database[Doc]) -> Doc:
    """The scheduler_state document for status reporting (without the histories)."""
    return db[SCHEDULER_STATE].find_one({"_id": STATE_ID}, _WITHOUT_HISTORIES) or {}


# A read the state document carries along: (collection, aggregation pipeline). Its rows land
# in a field of the document under this prefix (no state field has it).
Part = tuple[str, list[Doc]]
_PART = "_part_"


def read_state_with(
    db: Database[Doc], parts: Mapping[str, Part]
) -> tuple[Doc, dict[str, list[Doc]]]:
    """The state document (as read_state) and the rows of each part, in one aggregate command:
    each part's pipeline is an uncorrelated $lookup off the state document, so each still
    starts with its own $match (and index) in its own collection.

    Before the first run there is no state document to carry them: then each part is a
    command of its own."""
    pipeline: list[Doc] = [
        {"$match": {"_id": STATE_ID}},
        {"$project": _WITHOUT_HISTORIES},
        *(
            {"$lookup": {"from": collection, "pipeline": stages, "as": _PART + name}}
            for name, (collection, stages) in parts.items()
        ),
    ]
    state = next(db[SCHEDULER_STATE].aggregate(pipeline), None)
    if state is None:
        return {}, {name: list(db[c].aggregate(stages)) for name, (c, stages) in parts.items()}
    return state, {name: state.pop(_PART + name) for name in parts}


def force_release(db: Database[Doc], now: datetime, *, only_if_expired: bool) -> bool:
    """Operator tool for a stuck lock (`socialsched lock release`)."""
    condition: Doc = (
        {"lock.expiresAt": {"$lt": now}} if only_if_expired else {"lock": {"$ne": None}}
    )
    result = db[SCHEDULER_STATE].update_one(
        {"_id": STATE_ID, **condition}, {"$unset": {"lock": ""}}
    )
    return bool(result.modified_count == 1)
