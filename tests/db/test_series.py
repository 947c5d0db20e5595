"""Recurring posts: a daily series over a year is materialised in bounded batches as ordinary
posts, none twice and none missing across restarts, at the same wall-clock time across
daylight-saving changes; ending the series cancels its unsent occurrences."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo.database import Database

from common.db import SERIES, Doc
from common.operations import scheduling
from common.operations import series as series_ops
from tests.conftest import add_account

NOW = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
YEAR = timedelta(days=366)
LATENESS = timedelta(hours=1)


def _daily(db: Database[Doc], at: str) -> ObjectId:
    add_account(db, "a")
    template = scheduling.PostRequest(
        account_id="a", scheduled_at=at, time_zone="Europe/Berlin", text="good morning"
    )
    made = series_ops.create_series(db, template, "FREQ=DAILY;UNTIL=20271231T235959", NOW)
    assert isinstance(made, ObjectId)
    return made


def _run(db: Database[Doc], sid: ObjectId, limit: int = 50) -> series_ops.Materialised:
    return series_ops.materialise(db, sid, NOW, max_lateness=LATENESS, horizon=YEAR, limit=limit)


def test_a_daily_series_over_a_year_is_made_in_bounded_batches_each_day_once(
    db: Database[Doc],
) -> None:
    sid = _daily(db, "2027-01-01T09:00:00")
    batches = []
    while (done := _run(db, sid)).made or done.repeated:
        batches.append(done)

    assert len(batches) == 8 and max(b.made for b in batches) == 50
    assert sum(b.made for b in batches) == 365
    stored = list(db["posts"].find({"groupId": f"series:{sid}"}))
    berlin = ZoneInfo("Europe/Berlin")
    local = Counter(
        d["scheduledAt"].replace(tzinfo=UTC).astimezone(berlin).strftime("%H:%M") for d in stored
    )
    assert local == Counter({"09:00": 365})  # wall-clock kept in CET and CEST
    assert len({d["scheduledAt"] for d in stored}) == 365


def test_a_batch_repeated_after_a_lost_cursor_write_makes_nothing_twice(
    db: Database[Doc],
) -> None:
    sid = _daily(db, "2027-01-01T09:00:00")
    assert _run(db, sid).made == 50
    cursor = db[SERIES].find_one({"_id": sid})["cursor"]  # type: ignore[index]
    # A process killed after the posts of its second batch, before its cursor write:
    assert _run(db, sid).made == 50
    db[SERIES].update_one({"_id": sid}, {"$set": {"cursor": cursor}})
    repeated = _run(db, sid)
    while (done := _run(db, sid)).made or done.repeated:
        pass

    assert (repeated.made, repeated.repeated) == (0, 50)
    assert db["posts"].count_documents({"groupId": f"series:{sid}"}) == 365


def test_a_local_time_skipped_or_doubled_by_a_change_is_skipped_like_a_single_post(
    db: Database[Doc],
) -> None:
    sid = _daily(db, "2027-01-01T02:30:00")
    total = series_ops.Materialised(0, 0, 0, ())
    while (done := _run(db, sid, limit=200)).made or done.repeated or done.skipped:
        total = series_ops.Materialised(total.made + done.made, 0, total.skipped + done.skipped, ())

    # 2027-03-28 02:30 does not exist in Berlin; 2027-10-31 02:30 happens twice.
    assert (total.made, total.skipped) == (363, 2)


def test_ending_a_series_cancels_its_unsent_occurrences_only(db: Database[Doc]) -> None:
    sid = _daily(db, "2027-01-01T09:00:00")
    _run(db, sid, limit=10)
    first = db["posts"].find_one({"groupId": f"series:{sid}"}, sort=[("dueAt", 1)])
    assert first is not None
    db["posts"].update_one({"_id": first["_id"]}, {"$set": {"status": "published"}})

    assert series_ops.end_series(db, sid, NOW) == 9
    assert series_ops.end_series(db, ObjectId(), NOW) is None
    statuses = Counter(d["status"] for d in db["posts"].find({"groupId": f"series:{sid}"}))
    assert statuses == Counter({"canceled": 9, "published": 1})
    assert _run(db, sid) == series_ops.Materialised(0, 0, 0, ())  # ended: nothing more
