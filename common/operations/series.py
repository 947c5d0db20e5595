"""Recurring posts: a series (an RFC 5545 rule in a named zone and a post template) is
materialised ahead in bounded batches as ordinary posts, each keyed by the series and its
occurrence's local time, so a batch repeated after a crash makes nothing twice and a lost
cursor write skips nothing. Ending a series cancels its occurrences not yet on their way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from common import posts, series
from common.clock import TimeError, zone
from common.db import SERIES, Doc
from common.operations.scheduling import (
    AlreadyScheduled,
    Invalid,
    PostRequest,
    Scheduled,
    schedule_post,
)
from common.validation import Problem

# How far ahead occurrences become posts, and how many one call makes at most.
HORIZON = timedelta(days=30)
BATCH = 50
OWNER = "series"


@dataclass(frozen=True)
class Materialised:
    made: int  # new posts
    repeated: int  # occurrences whose post was already there (a repeated batch)
    skipped: int  # local times the clock skips or shows twice
    refused: tuple[Problem, ...]  # occurrences a post check refused (the series is kept)


def create_series(
    db: Database[Doc], template: PostRequest, rule: str, now: datetime
) -> ObjectId | Invalid:
    """`template.scheduled_at` is the first local time (no offset), `template.time_zone` the
    zone the rule keeps its wall-clock time in."""
    try:
        start = datetime.fromisoformat(template.scheduled_at)
        if start.tzinfo is not None:
            raise ValueError("give the start as a local time, without an offset")
        zone(template.time_zone or "")
        series.parse_rule(rule, start)
    except (ValueError, TimeError) as exc:
        return Invalid((Problem("rule", str(exc)),))
    doc: Doc = {
        "accountId": template.account_id,
        "rule": rule,
        "timeZone": template.time_zone,
        "start": start.isoformat(),
        "template": {
            "text": template.text,
            "link": template.link,
            "media": [dict(m) for m in template.media],
            "stage": template.stage,
        },
        "cursor": None,
        "ended": False,
        "createdAt": now,
    }
    inserted: ObjectId = db[SERIES].insert_one(doc).inserted_id
    return inserted


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
        return Materialised(0, 0, 0, ())
    cursor = None if doc["cursor"] is None else datetime.fromisoformat(doc["cursor"])
    start = datetime.fromisoformat(doc["start"])
    found = series.batch(doc["rule"], doc["timeZone"], start, cursor, now + horizon, limit)
    template = _template(doc)
    made = repeated = skipped = 0
    refused: list[Problem] = []
    for occurrence in found:
        if occurrence.instant is None:
            skipped += 1
            continue
        local = occurrence.local.isoformat()
        request = replace(template, scheduled_at=local, idempotency_key=f"{series_id}:{local}")
        result = schedule_post(db, request, now, max_lateness=max_lateness)
        if isinstance(result, Scheduled):
            made += 1
        elif isinstance(result, AlreadyScheduled):
            repeated += 1
        elif isinstance(result, Invalid):
            refused.extend(result.problems)
    if found:
        db[SERIES].update_one(
            {"_id": series_id, "cursor": doc["cursor"]},
            {"$set": {"cursor": found[-1].local.isoformat(), "updatedAt": now}},
        )
    return Materialised(made, repeated, skipped, tuple(refused))


def end_series(db: Database[Doc], series_id: ObjectId, now: datetime) -> int | None:
    """Stop the series and cancel its unsent occurrences; how many (None: no such series)."""
    ended = db[SERIES].update_one({"_id": series_id}, {"$set": {"ended": True, "endedAt": now}})
    if ended.matched_count == 0:
        return None
    return posts.end_group(db, group_of(series_id), now)


def group_of(series_id: ObjectId) -> str:
    return f"series:{series_id}"


def _template(doc: Doc) -> PostRequest:
    template = doc["template"]
    return PostRequest(
        account_id=doc["accountId"],
        scheduled_at=doc["start"],
        time_zone=doc["timeZone"],
        text=template["text"],
        link=template["link"],
        media=template["media"],
        stage=template["stage"],
        owner=OWNER,
        group_id=group_of(doc["_id"]),
    )
