"""The way in holds: a caller's idempotency key covers one request body, a late post older than
MAX_LATENESS is refused at the door, a post much like its neighbour is reported, and a CSV row
with a key edits its post by re-import (issue 18)."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pymongo.database import Database

from common.clock import utcnow
from common.db import Doc
from common.model import Content
from common.operations import creating, csv_import, scheduling
from common.operations.admission import Admission
from common.operations.scheduling import (
    AlreadyScheduled,
    Invalid,
    KeyReused,
    PostRequest,
    Scheduled,
)
from common.posts import store
from tests.conftest import add_account

LATENESS = timedelta(hours=24)


def _request(account: str, at: str, text: str = "hi", **extra: object) -> PostRequest:
    return PostRequest(account_id=account, scheduled_at=at, text=text, **extra)  # type: ignore[arg-type]


def _schedule(db: Database[Doc], request: PostRequest) -> object:
    return creating.schedule_one(db, request, utcnow(), Admission(LATENESS))


def test_a_key_reused_with_another_account_is_refused_and_makes_nothing(
    db: Database[Doc],
) -> None:
    add_account(db, "fb-a")
    add_account(db, "fb-b")
    at = (utcnow() + timedelta(hours=1)).isoformat()
    keyed = {"idempotency_key": "k-1", "owner": "key:one"}
    first = _schedule(db, _request("fb-a", at, request_hash="body-1", **keyed))
    again = _schedule(db, _request("fb-a", at, request_hash="body-1", **keyed))
    other = _schedule(db, _request("fb-b", at, request_hash="body-2", **keyed))
    assert isinstance(first, Scheduled)
    assert again == AlreadyScheduled(first.post_id, "scheduled")
    assert other == KeyReused("k-1")
    assert db["posts"].count_documents({}) == 1


def test_two_callers_may_use_the_same_key(db: Database[Doc]) -> None:
    add_account(db, "fb-a")
    at = (utcnow() + timedelta(hours=1)).isoformat()
    one = _schedule(db, _request("fb-a", at, idempotency_key="k", owner="key:1", request_hash="x"))
    two = _schedule(db, _request("fb-a", at, idempotency_key="k", owner="key:2", request_hash="x"))
    assert isinstance(one, Scheduled) and isinstance(two, Scheduled)
    assert db["posts"].count_documents({}) == 2


def test_a_single_create_under_a_key_a_batch_used_is_refused(db: Database[Doc]) -> None:
    add_account(db, "fb-a")
    at = (utcnow() + timedelta(hours=1)).isoformat()
    batch = [
        _request("fb-a", at, f"item {i}", idempotency_key="k", owner="o", item=i, request_hash="b")
        for i in range(3)
    ]
    done = creating.schedule(db, batch, utcnow(), Admission(LATENESS))
    assert isinstance(done, creating.BatchScheduled) and done.created == 3
    single = _schedule(
        db, _request("fb-a", at, "one", idempotency_key="k", owner="o", request_hash="s")
    )
    assert single == KeyReused("k")
    assert db["posts"].count_documents({}) == 3


def test_a_long_key_names_every_item_of_a_batch_without_overflowing(db: Database[Doc]) -> None:
    add_account(db, "fb-a")
    at = (utcnow() + timedelta(hours=1)).isoformat()
    key = "k" * scheduling.MAX_KEY_LENGTH
    batch = [
        _request("fb-a", at, f"item {i}", idempotency_key=key, owner="o", item=i, request_hash="b")
        for i in range(12)
    ]
    done = creating.schedule(db, batch, utcnow(), Admission(LATENESS))
    assert isinstance(done, creating.BatchScheduled) and done.created == 12


def test_a_request_without_a_key_is_named_as_it_always_was() -> None:
    """Stored keys outlive a deploy: a request without a key is named by its account, its
    instant in RFC 3339 UTC with whole seconds and its content, exactly as before, or the same
    request sent again after an upgrade would make a second post."""
    instant = datetime(2026, 12, 4, 11, 0, 5, 250000, tzinfo=ZoneInfo("Europe/Berlin"))
    named = '["post","a","2026-12-04T10:00:05Z",{"text":"hi","link":null,"media":[]}]'
    key = scheduling.post_key(_request("a", "now"), Content(text="hi"), instant)
    assert key == hashlib.sha256(named.encode()).hexdigest()


def test_allow_late_is_refused_for_a_time_older_than_the_lateness_limit(db: Database[Doc]) -> None:
    add_account(db, "fb-a")
    now = utcnow()
    too_old = (now - LATENESS - timedelta(minutes=5)).isoformat()
    late_enough = (now - LATENESS + timedelta(minutes=5)).isoformat()
    refused = _schedule(db, _request("fb-a", too_old, allow_late=True))
    assert isinstance(refused, Invalid)
    assert [p.field for p in refused.problems] == ["scheduledAt"]
    assert "MAX_LATENESS_SECONDS" in refused.problems[0].message
    assert isinstance(_schedule(db, _request("fb-a", late_enough, allow_late=True)), Scheduled)
    assert db["posts"].count_documents({}) == 1


def test_a_post_much_like_its_scheduled_neighbour_is_reported(db: Database[Doc]) -> None:
    add_account(db, "fb-a")
    add_account(db, "fb-b")
    due = utcnow() + timedelta(hours=1)
    first = _schedule(db, _request("fb-a", due.isoformat(), "Our spring sale starts today!"))
    assert isinstance(first, Scheduled) and first.looks_like == ()
    typo_fixed = (due + timedelta(seconds=30)).isoformat()
    second = _schedule(db, _request("fb-a", typo_fixed, "Our spring sale starts today!!"))
    assert isinstance(second, Scheduled)
    assert [n.other_id for n in second.looks_like] == [first.post_id]
    assert "cancel that one" in second.looks_like[0].message()
    elsewhere = _schedule(db, _request("fb-b", typo_fixed, "Our spring sale starts today!!"))
    unlike = _schedule(db, _request("fb-a", typo_fixed, "Opening hours change on Monday"))
    later = (due + timedelta(minutes=5)).isoformat()
    far = _schedule(db, _request("fb-a", later, "Our spring sale starts today!"))
    for result in (elsewhere, unlike, far):
        assert isinstance(result, Scheduled) and result.looks_like == ()


def _import(db: Database[Doc], text: str) -> csv_import.Imported | csv_import.ImportRefused:
    return csv_import.import_csv(db, io.StringIO(text), utcnow(), Admission(LATENESS))


def test_a_keyed_row_changed_and_imported_again_edits_its_post(db: Database[Doc]) -> None:
    add_account(db, "fb-a")
    at = (utcnow() + timedelta(hours=1)).isoformat()
    first = _import(db, f"account,at,text,key\nfb-a,{at},Helo world,launch\n")
    assert isinstance(first, csv_import.Imported) and first.count == 1
    post_id = first.created[0].post_id
    fixed = _import(db, f"account,at,text,key\nfb-a,{at},Hello world,launch\n")
    assert isinstance(fixed, csv_import.Imported)
    assert (fixed.count, fixed.updated) == (0, (csv_import.RowPost(2, post_id),))
    stored = store.get(db, post_id)
    assert stored is not None and stored.content.text == "Hello world" and stored.version == 2
    same = _import(db, f"account,at,text,key\nfb-a,{at},Hello world,launch\n")
    assert isinstance(same, csv_import.Imported)
    assert (same.count, same.updated, same.already) == (0, (), (csv_import.RowPost(2, post_id),))
    assert db["posts"].count_documents({}) == 1


def test_a_keyed_row_for_a_post_already_out_is_refused_and_nothing_is_imported(
    db: Database[Doc],
) -> None:
    add_account(db, "fb-a")
    at = (utcnow() + timedelta(hours=1)).isoformat()
    first = _import(db, f"account,at,text,key\nfb-a,{at},v1,launch\n")
    assert isinstance(first, csv_import.Imported)
    db["posts"].update_one({"_id": first.created[0].post_id}, {"$set": {"status": "published"}})
    later = (utcnow() + timedelta(hours=2)).isoformat()
    refused = _import(db, f"account,at,text,key\nfb-a,{at},v2,launch\nfb-a,{later},new,other\n")
    assert isinstance(refused, csv_import.ImportRefused)
    assert [(p.line, p.field) for p in refused.problems] == [(2, "key")]
    assert "already published" in refused.problems[0].message
    assert db["posts"].count_documents({}) == 1


def test_a_corrected_row_without_a_key_makes_a_second_post_and_says_so(db: Database[Doc]) -> None:
    add_account(db, "fb-a")
    at = (utcnow() + timedelta(hours=1)).isoformat()
    first = _import(db, f"account,at,text\nfb-a,{at},Helo world\n")
    again = _import(db, f"account,at,text\nfb-a,{at},Hello world\n")
    assert isinstance(first, csv_import.Imported) and isinstance(again, csv_import.Imported)
    assert again.count == 1
    assert [(w.line, w.post_id) for w in again.warnings] == [(2, again.created[0].post_id)]
    assert str(first.created[0].post_id) in again.warnings[0].message


def test_import_problems_name_the_csv_column(db: Database[Doc]) -> None:
    add_account(db, "fb-a")
    refused = _import(db, "account,at,text\nfb-a,next tuesday,hi\nnobody,2030-01-01T10:00Z,x\n")
    assert isinstance(refused, csv_import.ImportRefused)
    assert [(p.line, p.field) for p in refused.problems] == [(2, "at"), (3, "account")]
