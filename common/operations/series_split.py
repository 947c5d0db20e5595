"""Editing a series "this and following": the series stops before the occurrence
(`endsBefore`) and a successor with the new definition takes over from it.

The run finishes the split (finish_split, called by series_materialise): the successor is
stored dormant, the series' unsent occurrences from there on are canceled and give up their
keys, then the successor wakes and makes them again under the same keys. Each step is
idempotent and the split stays pending on the series until the last one, so a run that dies
mid-way is finished by the next: no occurrence twice, none missing. An occurrence edited on its
own ("this one", an ordinary post edit) is detached: it keeps its key and its edit, and the
successor passes its time by.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from common import series
from common.clock import zone
from common.db import SERIES, Doc
from common.operations.scheduling import Invalid, NoSuchAccount
from common.operations.series import (
    NoSuchSeries,
    check_template,
    document,
    group_of,
    local_time,
    optional_local,
    template_request,
)
from common.platforms.media_check import MediaUrlCheck
from common.posts import actions
from common.validation import Problem


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


def edit_following(
    db: Database[Doc],
    doc: Doc,
    changes: SeriesChanges,
    now: datetime,
    *,
    since: str | None = None,
    media_urls: MediaUrlCheck | None = None,
) -> Split | Invalid | NoSuchSeries | NoSuchAccount:
    """Change the series `doc` (as the caller read it to find it and check who may edit it)
    from the occurrence `since` (a local time; None: the next one after now) on, checked like
    a new series (media URLs the series did not have are fetched with `media_urls`, as at
    every door). The write is conditional on the series still being open and unsplit, so a
    change since the read is refused. The next run finishes the split (finish_split)."""
    series_id = doc["_id"]
    if doc["ended"]:
        return NoSuchSeries(str(series_id))
    if doc.get("successor") is not None or _waiting_for_hand_over(db, doc):
        message = "the series' last edit is being applied; try again after the next run"
        return Invalid((Problem("series", message),))
    at = _split_point(doc, since, now)
    if isinstance(at, Invalid):
        return at
    spec = _successor_spec(db, doc, changes, at, media_urls)
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
    ends_before = optional_local(doc.get("endsBefore"))
    try:
        if since is None:
            after = now.astimezone(zone(doc["timeZone"])).replace(tzinfo=None)
            at = series.following(doc["rule"], start, after, ends_before)
        else:
            wanted = local_time(since, "occurrence")
            at = series.following(doc["rule"], start, wanted - timedelta(seconds=1), ends_before)
            at = at if at == wanted else None
    except ValueError as exc:
        return Invalid((Problem("since", str(exc)),))
    if at is None:
        what = "no occurrence is left to edit" if since is None else f"{since} is no occurrence"
        return Invalid((Problem("since", f"{what} of this series"),))
    return at


def _successor_spec(
    db: Database[Doc],
    doc: Doc,
    changes: SeriesChanges,
    at: datetime,
    media_urls: MediaUrlCheck | None,
) -> Doc | Invalid | NoSuchAccount:
    template = doc["template"]
    start_text = changes.start or at.isoformat()
    try:
        start = local_time(start_text, "start")
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
    # The series' own URLs were checked when it was made or last edited: not fetched again.
    known = frozenset(str(m["url"]) for m in template["media"] if m.get("url"))
    request = template_request({**doc, "template": new_template})
    checked = check_template(db, request, media_urls, known)
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
    template = template_request({**doc, "template": spec["template"]})
    successor = document(
        spec["id"],
        doc.get("lineage") or str(doc["_id"]),
        template,
        spec["rule"],
        datetime.fromisoformat(spec["start"]),
        now,
        optional_local(spec["endsBefore"]),
    )
    chain = {"predecessorId": doc["_id"], "successorId": spec["successorId"]}
    with contextlib.suppress(DuplicateKeyError):  # stored by an earlier try
        db[SERIES].insert_one({**successor, **chain})


def _hand_over(db: Database[Doc], doc: Doc, now: datetime) -> None:
    actions.hand_over_group(db, group_of(doc["_id"]), doc["successor"]["since"], now)


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
