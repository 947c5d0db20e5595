"""The rules at the door, the same for the CLI, CSV import and the API (common.operations)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

from pymongo import MongoClient
from pymongo.database import Database

from common.clock import utcnow
from common.db import Doc
from common.operations import creating, csv_import, post_actions
from common.operations.admission import Admission
from common.operations.creating import BatchRefused, BatchScheduled
from common.operations.post_actions import Done, PostChanges, Refused
from common.operations.scheduling import AlreadyScheduled, Invalid, PostRequest, Scheduled
from common.posts import listing, store
from common.transitions.starts import Refusal
from tests.conftest import add_account, add_post
from tests.process.test_cli import socialsched
from tests.query_shapes import CommandRecorder, problems, queries

LATENESS = timedelta(days=1)  # MAX_LATENESS_SECONDS by default


def _request(at: str, text: str = "hi", **extra: object) -> PostRequest:
    return PostRequest(account_id="fb", scheduled_at=at, text=text, **extra)  # type: ignore[arg-type]


def test_a_time_in_the_past_is_refused_unless_now_or_allowed_late(db: Database[Doc]) -> None:
    add_account(db, "fb")
    now = utcnow()
    past = (now - timedelta(hours=2)).isoformat()
    refused = creating.schedule_one(db, _request(past), now, Admission(LATENESS))
    assert isinstance(refused, Invalid)
    assert [p.field for p in refused.problems] == ["scheduledAt"]
    assert "in the past" in refused.problems[0].message
    assert db["posts"].count_documents({}) == 0
    assert isinstance(
        creating.schedule_one(db, _request("now"), now, Admission(LATENESS)), Scheduled
    )
    late = creating.schedule_one(db, _request(past, allow_late=True), now, Admission(LATENESS))
    assert isinstance(late, Scheduled)
    assert db["posts"].count_documents({}) == 2


def test_the_same_post_sent_twice_is_one_post(db: Database[Doc]) -> None:
    add_account(db, "fb")
    now = utcnow()
    at = (now + timedelta(hours=1)).isoformat()
    first = creating.schedule_one(db, _request(at), now, Admission(LATENESS))
    second = creating.schedule_one(db, _request(at), now, Admission(LATENESS))
    assert isinstance(first, Scheduled)
    assert second == AlreadyScheduled(first.post_id, "scheduled")
    other_text = creating.schedule_one(db, _request(at, text="other"), now, Admission(LATENESS))
    assert isinstance(other_text, Scheduled)
    keyed = creating.schedule_one(
        db, _request(at, text="v1", idempotency_key="k1"), now, Admission(LATENESS)
    )
    rekeyed = creating.schedule_one(
        db, _request(at, text="v2", idempotency_key="k1"), now, Admission(LATENESS)
    )
    assert isinstance(keyed, Scheduled) and rekeyed == AlreadyScheduled(keyed.post_id, "scheduled")
    assert db["posts"].count_documents({}) == 3


def test_a_batch_is_all_or_nothing_and_names_each_bad_item_by_index(db: Database[Doc]) -> None:
    add_account(db, "fb")
    now = utcnow()
    at = (now + timedelta(hours=1)).isoformat()
    bad = [_request(at, "a"), PostRequest("nobody", at, text="b"), _request("soon", "c")]
    refused = creating.schedule(db, bad, now, Admission(LATENESS))
    assert isinstance(refused, BatchRefused)
    assert [(p.index, p.field) for p in refused.problems] == [(1, "accountId"), (2, "scheduledAt")]
    assert db["posts"].count_documents({}) == 0
    batch = [_request(at, "a"), _request(at, "b"), _request(at, "a")]
    done = creating.schedule(db, batch, now, Admission(LATENESS))
    assert isinstance(done, BatchScheduled) and done.created == 2
    first, _, repeat = done.results
    assert isinstance(first, Scheduled) and repeat == AlreadyScheduled(first.post_id, "scheduled")
    again = creating.schedule(db, batch, now, Admission(LATENESS))
    assert isinstance(again, BatchScheduled) and again.created == 0
    assert [r.post_id for r in again.results] == [r.post_id for r in done.results]
    assert db["posts"].count_documents({}) == 2


def test_reimporting_a_file_names_the_posts_made_the_first_time(db: Database[Doc]) -> None:
    add_account(db, "fb")
    now = utcnow()
    csv_text = (
        "account,at,text,key\n"
        "fb,2030-01-01T10:00:00Z,first,\n"
        "fb,2030-01-01T10:00:00Z,second,row-2\n"
    )
    first = csv_import.import_csv(db, io.StringIO(csv_text), now, Admission(LATENESS))
    assert isinstance(first, csv_import.Imported) and first.count == 2
    edited = csv_text.replace("second", "second reworded")  # same key: the same row, edited
    again = csv_import.import_csv(db, io.StringIO(edited), now, Admission(LATENESS))
    assert isinstance(again, csv_import.Imported) and again.count == 0
    assert [a.line for a in again.already] == [2]
    assert again.updated == (csv_import.RowPost(3, first.created[1].post_id),)
    assert db["posts"].count_documents({}) == 2


def test_an_edit_is_checked_like_a_new_post_and_refused_at_a_stale_version(
    db: Database[Doc],
) -> None:
    add_account(db, "fb")
    now = utcnow()
    made = creating.schedule_one(
        db, _request((now + timedelta(hours=1)).isoformat()), now, Admission(LATENESS)
    )
    assert isinstance(made, Scheduled)
    pid = made.post_id
    past = PostChanges(scheduled_at=(now - timedelta(days=1)).isoformat())
    assert isinstance(
        post_actions.edit_post(db, pid, past, now, Admission(LATENESS), version=1), Invalid
    )
    later = (now + timedelta(hours=3)).isoformat()
    changes = PostChanges(text="edited", scheduled_at=later)
    assert post_actions.edit_post(db, pid, changes, now, Admission(LATENESS), version=1) == Done(
        pid
    )
    stale = post_actions.edit_post(
        db, pid, PostChanges(text="lost"), now, Admission(LATENESS), version=1
    )
    assert stale == Refused(Refusal.STALE, "scheduled")
    post = store.get(db, pid)
    assert post is not None
    assert (post.content.text, post.version) == ("edited", 2)
    assert post.due_at == now.replace(microsecond=post.due_at.microsecond) + timedelta(hours=3)


def test_the_cli_lists_a_page_at_a_time_and_shows_last_errors(
    mongo_uri: str, db_name: str, db: Database[Doc], tmp_path: Path
) -> None:
    add_account(db, "fb")
    rows = "".join(f"fb,2030-01-01T10:{i:02d}:00Z,post {i}\n" for i in range(5))
    (tmp_path / "p.csv").write_text("account,at,text\n" + rows)
    assert socialsched(mongo_uri, db_name, "import", str(tmp_path / "p.csv")).returncode == 0
    db["posts"].update_one(
        {"content.text": "post 0"},
        {"$set": {"lastError": {"code": "rate_limited", "message": "slow down", "at": utcnow()}}},
    )
    page = json.loads(
        socialsched(mongo_uri, db_name, "posts", "list", "--limit", "3", "--json").stdout
    )
    assert [p["content"]["text"] for p in page["posts"]] == ["post 0", "post 1", "post 2"]
    readable = socialsched(
        mongo_uri, db_name, "posts", "list", "--limit", "3", "--after", page["next"]
    ).stdout
    assert "post" not in readable.split("\n")[0] and "more posts" not in readable
    assert len(readable.strip().splitlines()) == 3  # header and the two last posts
    first = socialsched(
        mongo_uri, db_name, "posts", "list", "--limit", "1", "--show-tz", "Asia/Tokyo"
    )
    assert "rate_limited: slow down" in first.stdout and "2030-01-01T19:00:00+09:00" in first.stdout
    assert "more posts: --after " in first.stdout


def test_the_cli_refuses_a_past_time_and_edits_at_a_version(
    mongo_uri: str, db_name: str, db: Database[Doc]
) -> None:
    add_account(db, "fb")
    base = ("posts", "add", "--account", "fb", "--text", "hi")
    past = socialsched(mongo_uri, db_name, *base, "--at", "2020-01-01T10:00Z")
    assert past.returncode == 2 and "in the past" in past.stderr
    added = socialsched(mongo_uri, db_name, *base, "--at", "2030-01-01T10:00Z", "--json")
    pid = json.loads(added.stdout)["id"]
    repeat = socialsched(mongo_uri, db_name, *base, "--at", "2030-01-01T10:00Z")
    assert repeat.returncode == 0 and f"already scheduled: post {pid}" in repeat.stdout
    edited = socialsched(mongo_uri, db_name, "posts", "edit", pid, "--version", "1", "--text", "x")
    assert edited.returncode == 0, edited.stderr
    stale = socialsched(mongo_uri, db_name, "posts", "edit", pid, "--version", "1", "--text", "y")
    assert stale.returncode == 1 and "changed since" in stale.stderr
    assert db["posts"].find_one()["content"]["text"] == "x"  # type: ignore[index]


def test_every_listing_shape_is_served_by_a_declared_index(
    mongo_uri: str, db: Database[Doc]
) -> None:
    # The local server ignores secondary indexes: the commands are held against the declared
    # ones (tests/query_shapes.py), first pages and pages after a cursor alike.
    add_account(db, "fb")
    now = utcnow()
    for n in range(3):
        add_post(db, "fb", now + timedelta(hours=n))
    recorder = CommandRecorder()
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[recorder])
    listed = client[db.name]
    filters = [
        listing.PostFilter(),
        listing.PostFilter(status="scheduled"),
        listing.PostFilter(account_id="fb"),
        listing.PostFilter(accounts_allowed=("fb", "other")),
        listing.PostFilter(status="scheduled", account_id="fb"),
        listing.PostFilter(due_after=now, due_before=now + timedelta(days=1)),
    ]
    try:
        for where in filters:
            first = listing.list_page(listed, where, None, 1)
            assert first.after is not None
            second = listing.list_page(listed, where, first.after, 1)
            assert second.rows and second.rows[0]["_id"] != first.rows[0]["_id"]
    finally:
        client.close()
    found = queries(recorder.commands)
    assert len(found) == 2 * len(filters)
    assert problems(found) == []
