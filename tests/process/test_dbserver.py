"""The MongoDB wire-protocol server the project starts: PyMongo connects and every operation the
code relies on behaves as MongoDB's does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pymongo import MongoClient, ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from common.db import Doc
from devstack import dbserver
from devstack.processes import free_port, stop


def test_server_reports_a_wire_version_pymongo_accepts(db: Database[Doc]) -> None:
    # mongo-java-server answers the legacy isMaster handshake (not "hello").
    handshake = db.client.admin.command("isMaster")
    assert handshake["maxWireVersion"] >= 9


def test_upsert_with_or_and_ne_filter_then_duplicate_key_when_held(db: Database[Doc]) -> None:
    coll = db["state"]
    now = datetime.now(UTC)
    free = {
        "_id": "s",
        "$or": [{"lock": None}, {"lock.expiresAt": {"$lt": now}}],
        "ticks": {"$ne": "m1"},
    }
    update = {
        "$set": {"lock": {"expiresAt": now + timedelta(minutes=5)}},
        "$inc": {"fence": 1},
        "$push": {"ticks": {"$each": ["m1"], "$slice": -2}},
    }
    doc = coll.find_one_and_update(free, update, upsert=True, return_document=ReturnDocument.AFTER)
    assert doc is not None and doc["fence"] == 1 and doc["ticks"] == ["m1"]
    with pytest.raises(DuplicateKeyError):
        coll.find_one_and_update(free, update, upsert=True)


def test_push_with_slice_keeps_the_newest(db: Database[Doc]) -> None:
    coll = db["state"]
    for i in range(5):
        coll.update_one({"_id": "s"}, {"$push": {"xs": {"$each": [i], "$slice": -3}}}, upsert=True)
    assert coll.find_one({"_id": "s"})["xs"] == [2, 3, 4]  # type: ignore[index]


def test_exactly_one_of_sixteen_racing_upserts_wins(db: Database[Doc]) -> None:
    coll = db["state"]
    now = datetime.now(UTC)
    wins: list[int] = []
    barrier = threading.Barrier(16)

    def race(i: int) -> None:
        barrier.wait()
        try:
            coll.find_one_and_update(
                {"_id": "s", "$or": [{"lock": None}, {"lock.expiresAt": {"$lt": now}}]},
                {"$set": {"lock": {"holder": i, "expiresAt": now + timedelta(minutes=5)}}},
                upsert=True,
            )
            wins.append(i)
        except DuplicateKeyError:
            pass

    threads = [threading.Thread(target=race, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert coll.find_one({"_id": "s"})["lock"]["holder"] == wins[0]  # type: ignore[index]


def test_update_many_bulk_write_facet_group_and_sorted_find_one_and_update(
    db: Database[Doc],
) -> None:
    coll = db["posts"]
    coll.insert_many([{"_id": i, "status": "scheduled", "due": i} for i in range(10)])
    assert (
        coll.update_many(
            {"_id": {"$in": [0, 1, 2]}, "status": "scheduled"}, {"$set": {"status": "publishing"}}
        ).modified_count
        == 3
    )
    result = coll.bulk_write(
        [
            UpdateOne({"_id": 3}, {"$set": {"status": "failed"}}),
            UpdateOne({"_id": 4}, {"$inc": {"due": 100}}),
        ]
    )
    assert result.modified_count == 2
    facet = next(
        coll.aggregate(
            [
                {
                    "$facet": {
                        "due": [
                            {"$match": {"status": "scheduled"}},
                            {"$sort": {"due": 1}},
                            {"$limit": 2},
                            {"$project": {"due": 1}},
                        ],
                        "counts": [{"$group": {"_id": "$status", "n": {"$sum": 1}}}],
                    }
                }
            ]
        )
    )
    assert [d["_id"] for d in facet["due"]] == [5, 6]
    assert {c["_id"]: c["n"] for c in facet["counts"]} == {
        "publishing": 3,
        "failed": 1,
        "scheduled": 6,
    }
    first = coll.find_one_and_update(
        {"status": "scheduled"}, {"$set": {"status": "x"}}, sort=[("due", 1)], projection={"due": 1}
    )
    assert first == {"_id": 5, "due": 5}


def test_h2_data_file_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data.mv"
    for expected in (0, 1):
        port = free_port()
        proc = dbserver.start(port, data)
        try:
            client: MongoClient[Doc] = MongoClient(f"mongodb://127.0.0.1:{port}/")
            coll = client["persist"]["things"]
            assert coll.count_documents({}) == expected
            coll.insert_one({"n": expected})
            client.close()
        finally:
            stop(proc)
