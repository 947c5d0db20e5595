"""Recurring posts: a series (an RFC 5545 rule in a named zone and a post template) made,
read, listed and ended. Its occurrences become ordinary posts ahead of time
(series_materialise: a step of every run, in bounded batches); editing "this and following"
splits it (series_split). Ending a series cancels its occurrences not yet on their way, and
those of the successors its edits made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from common import accounts, series
from common.clock import TimeError, zone
from common.db import SERIES, Doc
from common.operations.scheduling import (
    Invalid,
    NoSuchAccount,
    Planned,
    PostRequest,
    plan_post,
    url_problems,
)
from common.platforms.media_check import MediaUrlCheck
from common.posts import actions
from common.validation import Problem

OWNER = "series"
# How many successors end_series follows (a series edited this often is ended in steps).
MAX_CHAIN = 100


@dataclass(frozen=True)
class NoSuchSeries:
    series_id: str


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
        start = local_time(template.scheduled_at, "start")
        zone(template.time_zone or "")
        series.parse_rule(rule, start)
    except (ValueError, TimeError) as exc:
        return Invalid((Problem("rule", str(exc)),))
    checked = check_template(db, template, media_urls)
    if checked is not None:
        return checked
    series_id = ObjectId()
    doc = document(series_id, str(series_id), template, rule, start, now)
    db[SERIES].insert_one({**doc, "materialiseAt": now})
    return series_id


def document(
    series_id: ObjectId,
    lineage: str,
    template: PostRequest,
    rule: str,
    start: datetime,
    now: datetime,
    ends_before: datetime | None = None,
) -> Doc:
    """A series as stored; a successor (series_split) is stored dormant, without
    `materialiseAt`, which the caller adds for a series that starts at once."""
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


def check_template(
    db: Database[Doc],
    template: PostRequest,
    media_urls: MediaUrlCheck | None,
    known: frozenset[str] = frozenset(),
) -> Invalid | NoSuchAccount | None:
    """The template's content against its account's network rules (the time is the rule's),
    its media URLs checked once, at the door (`known`: URLs checked before, not again)."""
    probe = replace(template, scheduled_at="now")
    planned = plan_post(probe, accounts.get(db, template.account_id), _EPOCH, timedelta(0))
    if not isinstance(planned, Planned):
        return planned
    (by_url,) = url_problems(media_urls, [planned.new], known)
    return Invalid(tuple(by_url)) if by_url else None


_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


def local_time(text: str, what: str) -> datetime:
    """A wall-clock time as a series keeps it: refused with an offset."""
    local = datetime.fromisoformat(text)
    if local.tzinfo is not None:
        raise ValueError(f"give the {what} as a local time, without an offset")
    return local


def optional_local(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def template_request(doc: Doc) -> PostRequest:
    """The series' template as a post request at its first local time (its occurrences
    replace the time and add their key)."""
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


def group_of(series_id: ObjectId) -> str:
    return f"series:{series_id}"


def get_series(db: Database[Doc], series_id: ObjectId) -> Doc | None:
    return db[SERIES].find_one({"_id": series_id})


def list_series(db: Database[Doc], account_id: str | None = None, limit: int = 100) -> list[Doc]:
    """The series, newest first (an account's alone when given)."""
    where: Doc = {} if account_id is None else {"accountId": account_id}
    return list(db[SERIES].find(where).sort("_id", -1).limit(limit))


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
        canceled = (canceled or 0) + actions.end_group(db, group_of(doc["_id"]), now)
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
