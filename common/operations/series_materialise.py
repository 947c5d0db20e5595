"""A series' occurrences made into ordinary posts ahead of time, in bounded batches, each
keyed by the series' lineage and its occurrence's local time, so a batch repeated after a crash
makes nothing twice and a lost cursor write skips nothing.

The run materialises (materialise_due, a step of every run, under the run's lock): one indexed
query finds the series whose `materialiseAt` has come (a series sets it to when its next
occurrence enters the horizon), and at most SERIES_PER_RUN of them make at most BATCH posts
each, so no run does unbounded work. A pending split (series_split) is finished first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import PyMongoError

from common import series
from common.db import SERIES, Doc
from common.operations.admission import Admission
from common.operations.creating import schedule_one
from common.operations.scheduling import AlreadyScheduled, Invalid, Scheduled
from common.operations.series import optional_local, template_request
from common.operations.series_split import finish_split
from common.validation import Problem

log = logging.getLogger(__name__)

# How far ahead occurrences become posts, and how many one call makes at most.
HORIZON = timedelta(days=30)
BATCH = 50
# How many series one run materialises at most (each at most BATCH posts).
SERIES_PER_RUN = 10
# A series whose batch failed unexpectedly waits this long, so it never holds up the runs.
FAILED_RETRY = timedelta(hours=1)


@dataclass(frozen=True)
class Materialised:
    made: int  # new posts
    repeated: int  # occurrences whose post was already there (a repeated batch)
    skipped: int  # local times the clock skips or shows twice
    refused: tuple[Problem, ...]  # occurrences a post check refused (the series is kept)

    def __add__(self, other: Materialised) -> Materialised:
        return Materialised(
            self.made + other.made,
            self.repeated + other.repeated,
            self.skipped + other.skipped,
            self.refused + other.refused,
        )


NOTHING = Materialised(0, 0, 0, ())


@dataclass(frozen=True)
class _Batch:
    """How one series' batch is made: how late a post may go out, how far ahead occurrences
    become posts, and how many at most."""

    max_lateness: timedelta
    horizon: timedelta
    limit: int


def materialise(
    db: Database[Doc],
    series_id: ObjectId,
    now: datetime,
    *,
    max_lateness: timedelta,
    horizon: timedelta = HORIZON,
    limit: int = BATCH,
) -> Materialised:
    """Make the next (at most `limit`) occurrences due within `horizon` into posts, then move
    the cursor past them (conditional on the cursor read, so two callers never both move it)."""
    doc = db[SERIES].find_one({"_id": series_id, "ended": False})
    if doc is None:
        return NOTHING
    return _materialise(db, doc, now, _Batch(max_lateness, horizon, limit))


def _materialise(db: Database[Doc], doc: Doc, now: datetime, batch: _Batch) -> Materialised:
    cursor = optional_local(doc["cursor"])
    start = datetime.fromisoformat(doc["start"])
    ends_before = optional_local(doc.get("endsBefore"))
    until = now + batch.horizon
    found = series.batch(
        doc["rule"], doc["timeZone"], start, cursor, until, batch.limit, ends_before
    )
    done = NOTHING
    for occurrence in found:
        done = done + _make(db, doc, occurrence, now, batch.max_lateness)
    last = found[-1].local if found else cursor
    _advance(db, doc, last, now, batch.horizon, more_now=len(found) == batch.limit)
    return done


def _make(
    db: Database[Doc],
    doc: Doc,
    occurrence: series.Occurrence,
    now: datetime,
    max_lateness: timedelta,
) -> Materialised:
    if occurrence.instant is None:
        return Materialised(0, 0, 1, ())
    local = occurrence.local.isoformat()
    lineage = doc.get("lineage") or str(doc["_id"])
    request = replace(
        template_request(doc), scheduled_at=local, idempotency_key=f"{lineage}:{local}"
    )
    result = schedule_one(db, request, now, Admission(max_lateness))
    if isinstance(result, Scheduled):
        return Materialised(1, 0, 0, ())
    if isinstance(result, AlreadyScheduled):
        return Materialised(0, 1, 0, ())
    if isinstance(result, Invalid):
        return Materialised(0, 0, 0, result.problems)
    return NOTHING


def _advance(
    db: Database[Doc],
    doc: Doc,
    last: datetime | None,
    now: datetime,
    horizon: timedelta,
    *,
    more_now: bool,
) -> None:
    """Move the cursor to `last` and set when the series is next due for materialising: now
    when the batch was full, else when its next occurrence enters the horizon (never, when the
    rule has no more)."""
    # A pending split is finished by the next run: the series stays due until then.
    pending = doc.get("successor") is not None
    due = now if more_now or pending else _next_due(doc, last, horizon)
    sets: Doc = {"cursor": None if last is None else last.isoformat(), "updatedAt": now}
    change: Doc = {"$set": sets}
    if due is None:
        change["$unset"] = {"materialiseAt": ""}
    else:
        sets["materialiseAt"] = due
    # Conditional on what was read: another caller's batch, or an edit's split point, wins.
    read = {"cursor": doc["cursor"], "endsBefore": doc.get("endsBefore")}
    db[SERIES].update_one({"_id": doc["_id"], **read}, change)


def _next_due(doc: Doc, last: datetime | None, horizon: timedelta) -> datetime | None:
    start = datetime.fromisoformat(doc["start"])
    ends_before = optional_local(doc.get("endsBefore"))
    upcoming = series.following(doc["rule"], start, last, ends_before)
    if upcoming is None:
        return None
    return series.approximate_instant(upcoming, doc["timeZone"]) - horizon


# --- the run's step (series_due.MaterialiseDue calls it when a series is due) --------------


def materialise_due(
    db: Database[Doc],
    now: datetime,
    *,
    max_lateness: timedelta,
    series_per_run: int = SERIES_PER_RUN,
    horizon: timedelta = HORIZON,
    limit: int = BATCH,
) -> Materialised:
    due = db[SERIES].find(
        {"materialiseAt": {"$lte": now}}, sort=[("materialiseAt", 1)], limit=series_per_run
    )
    batch = _Batch(max_lateness, horizon, limit)
    done = NOTHING
    for doc in list(due):
        try:
            done = done + _due_one(db, doc, now, batch)
        except PyMongoError:
            raise  # the database is away: the run reports it
        except Exception:
            # A series that cannot be made (a stored rule a newer dateutil refuses, say) must
            # not hold up publishing: it is logged and looked at again later.
            log.exception("series not materialised", extra={"seriesId": str(doc["_id"])})
            db[SERIES].update_one(
                {"_id": doc["_id"]}, {"$set": {"materialiseAt": now + FAILED_RETRY}}
            )
    return done


def _due_one(db: Database[Doc], doc: Doc, now: datetime, batch: _Batch) -> Materialised:
    if doc.get("successor") is not None:
        finish_split(db, doc, now)
        doc = {**doc, "successor": None}
    if doc["ended"]:
        return NOTHING
    return _materialise(db, doc, now, batch)
