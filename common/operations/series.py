"""Recurring posts: a series (an RFC 5545 rule in a named zone and a post template) is
materialised ahead in bounded batches as ordinary posts, each keyed by the series' lineage and
its occurrence's local time, so a batch repeated after a crash makes nothing twice and a lost
cursor write skips nothing. Ending a series cancels its occurrences not yet on their way.

The run materialises (materialise_due, a step of every run, under the run's lock): one indexed
query finds the series whose `materialiseAt` has come (a series sets it to when its next
occurrence enters the horizon), and at most SERIES_PER_RUN of them make at most BATCH posts
each, so no run does unbounded work.

Editing "this and following" splits the series: the series stops before the occurrence
(`endsBefore`) and a successor with the new definition takes over from it. The run finishes
the split (finish_split): the successor is stored dormant, the series' unsent occurrences from
there on are canceled and give up their keys, then the successor wakes and makes them again
under the same keys. Each step is idempotent and the split stays pending on the series until
the last one, so a run that dies mid-way is finished by the next: no occurrence twice, none
missing. An occurrence edited on its own ("this one", an ordinary post edit) is detached: it
keeps its key and its edit, and the successor passes its time by.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from common import accounts, posts, series
from common.clock import TimeError, zone
from common.db import SERIES, Doc
from common.operations.admission import Admission
from common.operations.scheduling import (
    AlreadyScheduled,
    Invalid,
    NoSuchAccount,
    Planned,
    PostRequest,
    Scheduled,
    plan_post,
    schedule_post,
    url_problems,
)
from common.platforms.media_check import MediaUrlCheck
from common.validation import Problem

log = logging.getLogger(__name__)

# How far ahead occurrences become posts, and how many one call makes at most.
HORIZON = timedelta(days=30)
BATCH = 50
# How many series one run materialises at most (each at most BATCH posts).
SERIES_PER_RUN = 10
# A series whose batch failed unexpectedly waits this long, so it never holds up the runs.
FAILED_RETRY = timedelta(hours=1)
OWNER = "series"
# How many successors end_series follows (a series edited this often is ended in steps).
MAX_CHAIN = 100


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
class NoSuchSeries:
    series_id: str


@dataclass(frozen=True)
class SeriesChanges:
    """What "this and following" changes; None keeps the series' own."""

    text: str | None = None
    link: str | None = None
    media: Sequence[Mapping[str, str]] | None = None
    rule: str | None = None
    start: str | None = None  # the successor's first local time (default: the split occurrence)


@dataclass(frozen=True)
class Split:
    """The series stops before `at` (local); `successor` makes the occurrences from there on."""

    successor: ObjectId
    at: datetime


def create_series(
    db: Database[Doc],
    template: PostRequest,
    rule: str,
    now: datetime,
    media_urls: MediaUrlCheck | None = None,
) -> ObjectId | Invalid | NoSuchAccount:
    """`template.scheduled_at` is the first local time (no offset), `template.time_zone` the
    zone the rule keeps its wall-clock time in. The template is checked like a post; the
    occurrences are made by the runs (materialise_due), or at once with `materialise`."""
    try:
        start = _local(template.scheduled_at, "start")
        zone(template.time_zone or "")
        series.parse_rule(rule, start)
    except (ValueError, TimeError) as exc:
        return Invalid((Problem("rule", str(exc)),))
    checked = _check_template(db, template, media_urls)
    if checked is not None:
        return checked
    series_id = ObjectId()
    doc = _document(series_id, str(series_id), template, rule, start, now)
    db[SERIES].insert_one({**doc, "materialiseAt": now})
    return series_id


def _document(
    series_id: ObjectId,
    lineage: str,
    template: PostRequest,
    rule: str,
    start: datetime,
    now: datetime,
    ends_before: datetime | None = None,
) -> Doc:
    return {
        "_id": series_id,
        # The first series of an edited line: its occurrences' keys, the same for successors.
        "lineage": lineage,
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
        "endsBefore": None if ends_before is None else ends_before.isoformat(),
        "ended": False,
        "createdAt": now,
    }


def _check_template(
    db: Database[Doc], template: PostRequest, media_urls: MediaUrlCheck | None
) -> Invalid | NoSuchAccount | None:
    """The template's content against its account's network rules (the time is the rule's),
    its media URLs checked once, at the door."""
    probe = replace(template, scheduled_at="now")
    planned = plan_post(probe, accounts.get(db, template.account_id), _EPOCH, timedelta(0))
    if not isinstance(planned, Planned):
        return planned
    (by_url,) = url_problems(media_urls, [planned.new])
    return Invalid(tuple(by_url)) if by_url else None


_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


def _local(text: str, what: str) -> datetime:
    local = datetime.fromisoformat(text)
    if local.tzinfo is not None:
        raise ValueError(f"give the {what} as a local time, without an offset")
    return local


def get_series(db: Database[Doc], series_id: ObjectId) -> Doc | None:
    return db[SERIES].find_one({"_id": series_id})


def list_series(db: Database[Doc], account_id: str | None = None, limit: int = 100) -> list[Doc]:
    """The series, newest first (an account's alone when given)."""
    where: Doc = {} if account_id is None else {"accountId": account_id}
    return list(db[SERIES].find(where).sort("_id", -1).limit(limit))


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
    return _materialise(db, doc, now, max_lateness, horizon, limit)


def _materialise(
    db: Database[Doc],
    doc: Doc,
    now: datetime,
    max_lateness: timedelta,
    horizon: timedelta,
    limit: int,
) -> Materialised:
    cursor = _optional_local(doc["cursor"])
    start = datetime.fromisoformat(doc["start"])
    ends_before = _optional_local(doc.get("endsBefore"))
    found = series.batch(
        doc["rule"], doc["timeZone"], start, cursor, now + horizon, limit, ends_before
    )
    done = NOTHING
    for occurrence in found:
        done = done + _make(db, doc, occurrence, now, max_lateness)
    last = found[-1].local if found else cursor
    more_now = len(found) == limit
    _advance(db, doc, last, now, horizon, more_now)
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
    request = replace(_template(doc), scheduled_at=local, idempotency_key=f"{lineage}:{local}")
    result = schedule_post(db, request, now, Admission(max_lateness))
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
    ends_before = _optional_local(doc.get("endsBefore"))
    upcoming = series.following(doc["rule"], start, last, ends_before)
    if upcoming is None:
        return None
    return series.approximate_instant(upcoming, doc["timeZone"]) - horizon


def _optional_local(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


# --- the run's step ------------------------------------------------------------------------


@dataclass(frozen=True)
class MaterialiseDue:
    """A step of every run (engine.RunStep): finish pending splits, then materialise the
    series whose time has come; one indexed query when none has."""

    max_lateness: timedelta
    series_per_run: int = SERIES_PER_RUN

    def __call__(self, db: Database[Doc], now: datetime) -> None:
        done = materialise_due(
            db, now, max_lateness=self.max_lateness, series_per_run=self.series_per_run
        )
        if done != NOTHING:
            log.info(
                "series materialised",
                extra={"made": done.made, "repeated": done.repeated, "skipped": done.skipped},
            )


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
    done = NOTHING
    for doc in list(due):
        try:
            done = done + _due_one(db, doc, now, max_lateness, horizon, limit)
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


def _due_one(
    db: Database[Doc],
    doc: Doc,
    now: datetime,
    max_lateness: timedelta,
    horizon: timedelta,
    limit: int,
) -> Materialised:
    if doc.get("successor") is not None:
        finish_split(db, doc, now)
        doc = {**doc, "successor": None}
    if doc["ended"]:
        return NOTHING
    return _materialise(db, doc, now, max_lateness, horizon, limit)


# --- ending and editing ----------------------------------------------------------------------


def end_series(db: Database[Doc], series_id: ObjectId, now: datetime) -> int | None:
    """Stop the series (and the successors its edits made) and cancel their unsent
    occurrences; how many (None: no such series)."""
    canceled = None
    chain: list[ObjectId | None] = [series_id]
    for _ in range(MAX_CHAIN):
        if not chain:
            break
        next_id = chain.pop(0)
        doc = None if next_id is None else _end_one(db, next_id, now)
        if doc is None:
            continue
        canceled = (canceled or 0) + posts.end_group(db, group_of(doc["_id"]), now)
        pending = doc.get("successor")  # an edit not finished: its successor may be stored
        if pending is None:
            chain.append(doc.get("successorId"))
        else:  # the pending successor, then the one an earlier edit made (it follows it)
            chain += [pending["id"], pending["successorId"]]
    return canceled


def _end_one(db: Database[Doc], series_id: ObjectId, now: datetime) -> Doc | None:
    ended: Doc | None = db[SERIES].find_one_and_update(
        {"_id": series_id},
        {"$set": {"ended": True, "endedAt": now}, "$unset": {"materialiseAt": ""}},
    )
    return ended


def edit_following(
    db: Database[Doc],
    series_id: ObjectId,
    changes: SeriesChanges,
    now: datetime,
    *,
    since: str | None = None,
) -> Split | Invalid | NoSuchSeries | NoSuchAccount:
    """Change the series from the occurrence `since` (a local time; None: the next one after
    now) on. The next run finishes the split (finish_split)."""
    doc = db[SERIES].find_one({"_id": series_id, "ended": False})
    if doc is None:
        return NoSuchSeries(str(series_id))
    if doc.get("successor") is not None or _waiting_for_hand_over(db, doc):
        message = "the series' last edit is being applied; try again after the next run"
        return Invalid((Problem("series", message),))
    at = _split_point(doc, since, now)
    if isinstance(at, Invalid):
        return at
    spec = _successor_spec(db, doc, changes, at)
    if not isinstance(spec, dict):
        return spec
    spec["since"] = series.approximate_instant(at, doc["timeZone"])
    spec["endsBefore"] = doc.get("endsBefore")  # an earlier edit's successor starts there
    spec["successorId"] = doc.get("successorId")
    written = db[SERIES].update_one(
        {"_id": series_id, "ended": False, "successor": None},
        {"$set": {"successor": spec, "endsBefore": at.isoformat(), "materialiseAt": now}},
    )
    if written.modified_count != 1:
        message = "the series changed while it was edited; read it again"
        return Invalid((Problem("series", message),))
    return Split(spec["id"], at)


def _waiting_for_hand_over(db: Database[Doc], doc: Doc) -> bool:
    """A successor stays dormant until its predecessor's occurrences are handed over: an edit
    now would wake it before that (see finish_split)."""
    predecessor = doc.get("predecessorId")
    if predecessor is None or doc.get("cursor") is not None:
        return False
    pending = {"_id": predecessor, "successor.id": doc["_id"]}
    return db[SERIES].count_documents(pending, limit=1) > 0


def _split_point(doc: Doc, since: str | None, now: datetime) -> datetime | Invalid:
    start = datetime.fromisoformat(doc["start"])
    ends_before = _optional_local(doc.get("endsBefore"))
    try:
        if since is None:
            after = now.astimezone(zone(doc["timeZone"])).replace(tzinfo=None)
            at = series.following(doc["rule"], start, after, ends_before)
        else:
            wanted = _local(since, "occurrence")
            at = series.following(doc["rule"], start, wanted - timedelta(seconds=1), ends_before)
            at = at if at == wanted else None
    except ValueError as exc:
        return Invalid((Problem("since", str(exc)),))
    if at is None:
        what = "no occurrence is left to edit" if since is None else f"{since} is no occurrence"
        return Invalid((Problem("since", f"{what} of this series"),))
    return at


def _successor_spec(
    db: Database[Doc], doc: Doc, changes: SeriesChanges, at: datetime
) -> Doc | Invalid | NoSuchAccount:
    template = doc["template"]
    start_text = changes.start or at.isoformat()
    try:
        start = _local(start_text, "start")
        rule = changes.rule or series.successor_rule(
            doc["rule"], datetime.fromisoformat(doc["start"]), at
        )
        series.parse_rule(rule, start)
    except ValueError as exc:
        return Invalid((Problem("rule", str(exc)),))
    new_template = {
        "text": template["text"] if changes.text is None else changes.text,
        "link": template["link"] if changes.link is None else changes.link,
        "media": template["media"] if changes.media is None else [dict(m) for m in changes.media],
        "stage": template["stage"],
    }
    # Not yet checked at the door here: media URLs a split's new template brings (issue 18).
    checked = _check_template(db, _template({**doc, "template": new_template}), None)
    if checked is not None:
        return checked
    return {"id": ObjectId(), "rule": rule, "start": start.isoformat(), "template": new_template}


def finish_split(db: Database[Doc], doc: Doc, now: datetime) -> None:
    """The steps of a pending split, each idempotent, in this order (see the module's doc)."""
    for step in SPLIT_STEPS:
        step(db, doc, now)


def _store_successor(db: Database[Doc], doc: Doc, now: datetime) -> None:
    """The successor, dormant (no `materialiseAt`) until the hand-over is done. It ends where
    the series ended before this edit, and the series' earlier successor (if any) follows it."""
    spec = doc["successor"]
    template = _template({**doc, "template": spec["template"]})
    successor = _document(
        spec["id"],
        doc.get("lineage") or str(doc["_id"]),
        template,
        spec["rule"],
        datetime.fromisoformat(spec["start"]),
        now,
        _optional_local(spec["endsBefore"]),
    )
    chain = {"predecessorId": doc["_id"], "successorId": spec["successorId"]}
    with contextlib.suppress(DuplicateKeyError):  # stored by an earlier try
        db[SERIES].insert_one({**successor, **chain})


def _hand_over(db: Database[Doc], doc: Doc, now: datetime) -> None:
    posts.hand_over_group(db, group_of(doc["_id"]), doc["successor"]["since"], now)


def _wake_successor(db: Database[Doc], doc: Doc, now: datetime) -> None:
    db[SERIES].update_one(
        {"_id": doc["successor"]["id"], "materialiseAt": None, "cursor": None, "ended": False},
        {"$set": {"materialiseAt": now}},
    )


def _close_split(db: Database[Doc], doc: Doc, now: datetime) -> None:
    db[SERIES].update_one(
        {"_id": doc["_id"], "successor.id": doc["successor"]["id"]},
        {"$set": {"successorId": doc["successor"]["id"]}, "$unset": {"successor": ""}},
    )


SPLIT_STEPS: tuple[Callable[[Database[Doc], Doc, datetime], None], ...] = (
    _store_successor,
    _hand_over,
    _wake_successor,
    _close_split,
)


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
