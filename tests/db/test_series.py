"""Recurring posts: a daily series is materialised in bounded batches as ordinary posts, none twice
and none missing across restarts, at the same wall-clock time across daylight-saving changes;
ending the series cancels its unsent occurrences."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId
from pymongo.database import Database

from common.config import Settings
from common.db import SERIES, Doc
from common.engine import Trigger, execute_once
from common.entrypoints.runner import run_steps
from common.operations import post_actions, scheduling, series_materialise, series_split
from common.operations import series as series_ops
from common.operations.admission import Admission
from common.operations.post_actions import PostChanges
from common.platforms.base import Registry
from tests.conftest import add_account

NOW = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
YEAR = timedelta(days=366)
LATENESS = timedelta(hours=1)


# The days of 2027's two daylight-saving months in Berlin (the change of March 28 and of
# October 31): a year's rules at a sixth of the posts.
CHANGE_MONTHS = "BYMONTH=3,10"
# The end of a short series, where the number of its occurrences does not matter.
JANUARY_15 = "20270115T235959"


def _daily(
    db: Database[Doc], at: str, until: str = "20271231T235959", also: str | None = None
) -> ObjectId:
    if db["accounts"].count_documents({"_id": "a"}) == 0:
        add_account(db, "a")
    template = scheduling.PostRequest(
        account_id="a", scheduled_at=at, time_zone="Europe/Berlin", text="good morning"
    )
    rule = f"FREQ=DAILY;UNTIL={until}" + (f";{also}" if also else "")
    made = series_ops.create_series(db, template, rule, NOW)
    assert isinstance(made, ObjectId)
    return made


def _found(db: Database[Doc], series_id: ObjectId) -> Doc:
    """The series as a caller reads it before editing it."""
    doc = series_ops.get_series(db, series_id)
    assert doc is not None
    return doc


def _run(db: Database[Doc], sid: ObjectId, limit: int = 50) -> series_materialise.Materialised:
    return series_materialise.materialise(
        db, sid, NOW, max_lateness=LATENESS, horizon=YEAR, limit=limit
    )


def test_a_daily_series_across_a_year_is_made_in_bounded_batches_each_day_once(
    db: Database[Doc],
) -> None:
    sid = _daily(db, "2027-01-01T09:00:00", also=CHANGE_MONTHS)
    batches = []
    while (done := _run(db, sid, limit=10)).made or done.repeated:
        batches.append(done)

    assert [b.made for b in batches] == [10, 10, 10, 10, 10, 10, 2]  # March and October
    stored = list(db["posts"].find({"groupId": f"series:{sid}"}))
    berlin = ZoneInfo("Europe/Berlin")
    local = Counter(
        d["scheduledAt"].replace(tzinfo=UTC).astimezone(berlin).strftime("%H:%M") for d in stored
    )
    assert local == Counter({"09:00": 62})  # wall-clock kept in CET and CEST
    assert len({d["scheduledAt"] for d in stored}) == 62


def test_a_batch_repeated_after_a_lost_cursor_write_makes_nothing_twice(
    db: Database[Doc],
) -> None:
    sid = _daily(db, "2027-01-01T09:00:00", until="20270131T235959")
    assert _run(db, sid, limit=10).made == 10
    cursor = db[SERIES].find_one({"_id": sid})["cursor"]  # type: ignore[index]
    # A process killed after the posts of its second batch, before its cursor write:
    assert _run(db, sid, limit=10).made == 10
    db[SERIES].update_one({"_id": sid}, {"$set": {"cursor": cursor}})
    repeated = _run(db, sid, limit=10)
    while (done := _run(db, sid, limit=10)).made or done.repeated:
        pass

    assert (repeated.made, repeated.repeated) == (0, 10)
    assert db["posts"].count_documents({"groupId": f"series:{sid}"}) == 31


def test_a_local_time_skipped_or_doubled_by_a_change_is_skipped_like_a_single_post(
    db: Database[Doc],
) -> None:
    sid = _daily(db, "2027-01-01T02:30:00", also=CHANGE_MONTHS)
    total = series_materialise.Materialised(0, 0, 0, ())
    while (done := _run(db, sid, limit=200)).made or done.repeated or done.skipped:
        total = series_materialise.Materialised(
            total.made + done.made, 0, total.skipped + done.skipped, ()
        )

    # 2027-03-28 02:30 does not exist in Berlin; 2027-10-31 02:30 happens twice.
    assert (total.made, total.skipped) == (60, 2)


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
    assert _run(db, sid) == series_materialise.Materialised(0, 0, 0, ())  # ended: nothing more


def _drain(db: Database[Doc], now: datetime = NOW) -> series_materialise.Materialised:
    """The runs' step until no series is due (each call bounded: 2 series x 50 posts)."""
    total = series_materialise.NOTHING
    while True:
        done = series_materialise.materialise_due(
            db, now, max_lateness=LATENESS, series_per_run=2, horizon=YEAR
        )
        if done == series_materialise.NOTHING and not _due(db, now):
            return total
        total = total + done


def _due(db: Database[Doc], now: datetime) -> int:
    return db[SERIES].count_documents({"materialiseAt": {"$lte": now}})


def _live(db: Database[Doc]) -> list[Doc]:
    return list(db["posts"].find({"status": {"$ne": "canceled"}}, sort=[("scheduledAt", 1)]))


def test_runs_materialise_only_due_series_and_at_most_a_bounded_batch_each(
    db: Database[Doc],
) -> None:
    sids = [_daily(db, "2027-01-01T09:00:00") for _ in range(3)]

    first = series_materialise.materialise_due(
        db, NOW, max_lateness=LATENESS, series_per_run=2, limit=10
    )
    assert first.made == 20  # two series, ten posts each
    assert series_materialise.materialise_due(db, NOW, max_lateness=LATENESS).made == 20 + 20 + 30
    # Every occurrence of the next 30 days is a post; none is due again before one more day is.
    assert db["posts"].count_documents({}) == 3 * 30
    assert (
        series_materialise.materialise_due(db, NOW, max_lateness=LATENESS)
        == series_materialise.NOTHING
    )
    later = series_materialise.materialise_due(db, NOW + timedelta(days=1), max_lateness=LATENESS)
    assert (later.made, later.repeated) == (3, 0)
    assert {d["groupId"] for d in db["posts"].find()} == {f"series:{s}" for s in sids}


@pytest.mark.parametrize("steps_before_the_crash", range(len(series_split.SPLIT_STEPS) + 1))
def test_this_and_following_remakes_each_later_occurrence_once_even_after_a_crash(
    db: Database[Doc], steps_before_the_crash: int
) -> None:
    sid = _daily(db, "2027-01-01T09:00:00", until=JANUARY_15)
    assert _drain(db).made == 15
    by_hand = db["posts"].find_one({"localTime": "2027-01-12T09:00:00+01:00"})
    assert by_hand is not None
    edited = post_actions.edit_post(
        db, by_hand["_id"], PostChanges(text="edited by hand"), NOW, Admission(LATENESS)
    )
    assert edited == post_actions.Done(by_hand["_id"])

    split = series_split.edit_following(
        db,
        _found(db, sid),
        series_split.SeriesChanges(text="new text"),
        NOW,
        since="2027-01-10T09:00:00",
    )
    assert isinstance(split, series_split.Split)
    # A run dies after some of the split's steps; the next runs finish it.
    pending = db[SERIES].find_one({"_id": sid})
    assert pending is not None
    for step in series_split.SPLIT_STEPS[:steps_before_the_crash]:
        step(db, pending, NOW)
    _drain(db)

    live = _live(db)
    assert len(live) == 15 and len({d["scheduledAt"] for d in live}) == 15
    texts = Counter(d["content"]["text"] for d in live)
    assert texts == Counter({"good morning": 9, "edited by hand": 1, "new text": 5})
    assert db["posts"].count_documents({"status": "canceled"}) == 5
    assert db[SERIES].find_one({"_id": sid}, {"successor": 1, "_id": 0}) == {}


def test_a_split_count_rule_keeps_the_occurrences_still_to_come(db: Database[Doc]) -> None:
    add_account(db, "a")
    template = scheduling.PostRequest(
        account_id="a", scheduled_at="2027-01-01T09:00:00", time_zone="Europe/Berlin", text="x"
    )
    sid = series_ops.create_series(db, template, "FREQ=WEEKLY;COUNT=10", NOW)
    assert isinstance(sid, ObjectId)
    _drain(db)
    split = series_split.edit_following(
        db, _found(db, sid), series_split.SeriesChanges(text="y"), NOW, since="2027-01-29T09:00:00"
    )
    assert isinstance(split, series_split.Split)
    _drain(db)

    texts = Counter(d["content"]["text"] for d in _live(db))
    assert texts == Counter({"x": 4, "y": 6})
    successor = db[SERIES].find_one({"_id": split.successor})
    assert successor is not None and successor["rule"] == "FREQ=WEEKLY;COUNT=6"


def test_an_edit_from_a_time_that_is_no_occurrence_is_refused(db: Database[Doc]) -> None:
    sid = _daily(db, "2027-01-01T09:00:00")
    refused = series_split.edit_following(
        db, _found(db, sid), series_split.SeriesChanges(text="y"), NOW, since="2027-01-10T10:00:00"
    )
    assert isinstance(refused, scheduling.Invalid)
    assert [p.message for p in refused.problems] == [
        "2027-01-10T10:00:00 is no occurrence of this series"
    ]


def test_an_ended_series_is_not_edited_even_if_it_ended_after_the_caller_read_it(
    db: Database[Doc],
) -> None:
    sid = _daily(db, "2027-01-01T09:00:00")
    ended = _found(db, sid)
    assert series_ops.end_series(db, sid, NOW) is not None
    assert series_split.edit_following(
        db, _found(db, sid), series_split.SeriesChanges(), NOW
    ) == series_ops.NoSuchSeries(str(sid))
    # Ended after the caller read it: the conditional write refuses the edit.
    refused = series_split.edit_following(db, ended, series_split.SeriesChanges(text="z"), NOW)
    assert isinstance(refused, scheduling.Invalid)
    assert [p.field for p in refused.problems] == ["series"]


def test_ending_an_edited_series_ends_its_successor_too(db: Database[Doc]) -> None:
    sid = _daily(db, "2027-01-01T09:00:00", until=JANUARY_15)
    _drain(db)
    split = series_split.edit_following(
        db, _found(db, sid), series_split.SeriesChanges(text="y"), NOW
    )
    assert isinstance(split, series_split.Split)
    _drain(db)

    assert series_ops.end_series(db, sid, NOW) == 15
    assert _live(db) == []
    assert db[SERIES].count_documents({"ended": True}) == 2


def test_a_run_makes_the_next_occurrences_of_a_new_series(
    db: Database[Doc], settings: Settings
) -> None:
    sid = _daily(db, "2027-01-01T09:00:00")

    summary = execute_once(
        settings, Trigger("cli"), Registry([]), db=db, clock=lambda: NOW, steps=run_steps(settings)
    )

    assert summary.status == "ok"
    assert db["posts"].count_documents({"groupId": f"series:{sid}"}) == 30  # the next 30 days


def test_ending_a_series_with_an_edit_pending_still_ends_an_earlier_edits_successor(
    db: Database[Doc],
) -> None:
    sid = _daily(db, "2027-01-01T09:00:00", until=JANUARY_15)
    _drain(db)
    later = series_split.edit_following(
        db, _found(db, sid), series_split.SeriesChanges(text="b"), NOW, since="2027-01-12T09:00:00"
    )
    assert isinstance(later, series_split.Split)
    _drain(db)
    earlier = series_split.edit_following(
        db, _found(db, sid), series_split.SeriesChanges(text="c"), NOW, since="2027-01-06T09:00:00"
    )
    assert isinstance(earlier, series_split.Split)

    assert series_ops.end_series(db, sid, NOW) == 15  # before any run finished the second edit
    assert _live(db) == []
    assert db[SERIES].count_documents({"ended": False}) == 0
    assert _drain(db) == series_materialise.NOTHING


def test_a_successor_waiting_for_its_hand_over_cannot_be_edited_yet(db: Database[Doc]) -> None:
    sid = _daily(db, "2027-01-01T09:00:00", until=JANUARY_15)
    _drain(db)
    split = series_split.edit_following(
        db, _found(db, sid), series_split.SeriesChanges(text="b"), NOW
    )
    assert isinstance(split, series_split.Split)
    pending = db[SERIES].find_one({"_id": sid})
    assert pending is not None
    series_split.SPLIT_STEPS[0](db, pending, NOW)  # the successor is stored, still dormant

    refused = series_split.edit_following(
        db, _found(db, split.successor), series_split.SeriesChanges(text="c"), NOW
    )
    assert isinstance(refused, scheduling.Invalid)
    _drain(db)
    assert isinstance(
        series_split.edit_following(
            db, _found(db, split.successor), series_split.SeriesChanges(text="c"), NOW
        ),
        series_split.Split,
    )
