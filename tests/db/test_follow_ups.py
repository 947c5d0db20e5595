"""Follow-ups (a first comment, a thread's parts) through the one state machine: each part is a
post of its own, released by its parent's publication (by the answer or by a read-back), in
order, each once; a failed or canceled part stops the parts below it, a retry brings them back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

from pymongo.database import Database

from common.clock import utcnow
from common.config import Settings
from common.db import Doc
from common.engine import Trigger, execute_once
from common.model import Post
from common.operations import creating, scheduling
from common.operations.admission import Admission
from common.platforms.base import Ambiguous, Outcome, Permanent
from common.posts import actions, reconcile, store
from tests.conftest import add_account, add_thread, thread_post
from tests.recording import LOG, registry_for


def _by_text(db: Database[Doc]) -> dict[str, Doc]:
    return {d["content"]["text"]: d for d in db["posts"].find()}


def _tick(settings: Settings, db: Database[Doc], **publisher: object) -> object:
    return execute_once(settings, Trigger("cli"), registry_for(db, **publisher), db=db)


def test_a_thread_and_its_first_comment_go_out_in_order_once_each_in_one_run(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "a")
    add_thread(db, "a", parts=3, comment=True)

    _tick(settings, db)

    stored = _by_text(db)
    assert Counter(d["status"] for d in stored.values()) == {"published": 5}
    sent = list(db[LOG].find().sort("at", 1))
    assert Counter(s["text"] for s in sent) == Counter(list(stored))  # each once
    order = [s["text"] for s in sent]
    assert order.index("the post") < order.index("part 1") < order.index("part 2")
    assert order.index("part 2") < order.index("part 3")
    root_id = stored["the post"]["platformPostId"]
    replies = {s["text"]: s["replyTo"] for s in sent}
    assert replies["the post"] == {}
    assert replies["first comment"] == {"id": root_id, "rootId": root_id}
    assert replies["part 1"] == {"id": root_id, "rootId": root_id}
    assert replies["part 3"] == {"id": stored["part 2"]["platformPostId"], "rootId": root_id}


def test_a_failing_part_stops_the_rest_and_its_retry_brings_them_back(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "a")
    add_thread(db, "a", parts=4)

    def refuse_part_2(post: Post) -> Outcome | None:
        return Permanent("invalid", "refused") if post.content.text == "part 2" else None

    _tick(settings, db, script=refuse_part_2)

    stored = _by_text(db)
    statuses = {text: d["status"] for text, d in stored.items()}
    assert statuses == {
        "the post": "published",
        "part 1": "published",
        "part 2": "failed",
        "part 3": "failed",
        "part 4": "failed",
    }
    assert [stored[f"part {i}"]["lastError"]["code"] for i in (2, 3, 4)] == [
        "invalid",
        "parent_failed",
        "parent_failed",
    ]

    assert actions.retry(db, stored["part 2"]["_id"], utcnow())
    assert {d["content"]["text"]: d["status"] for d in db["posts"].find()}["part 4"] == "waiting"
    _tick(settings, db)

    assert Counter(d["status"] for d in db["posts"].find()) == {"published": 5}
    assert Counter(s["text"] for s in db[LOG].find())["part 2"] == 1


def test_canceling_the_post_cancels_its_waiting_parts(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "a")
    root = add_thread(db, "a", parts=2, comment=True)

    assert actions.cancel(db, root, utcnow())

    stored = _by_text(db)
    assert Counter(d["status"] for d in stored.values()) == {"canceled": 4}
    assert Counter(d.get("lastError", {}).get("code") for d in stored.values()) == {
        None: 1,
        "parent_canceled": 3,
    }
    _tick(settings, db)
    assert db[LOG].count_documents({}) == 0


def test_an_unknown_part_keeps_the_rest_waiting_until_reconciliation_finds_it(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "a")
    root = add_thread(db, "a", parts=2)

    def unclear_root(post: Post) -> Outcome | None:
        return Ambiguous("timed out") if post.content.text == "the post" else None

    # The root's answer is lost before anything is recorded; the look finds nothing: unknown.
    _tick(settings, db, script=unclear_root)
    assert {t: d["status"] for t, d in _by_text(db).items()} == {
        "the post": "unknown",
        "part 1": "waiting",
        "part 2": "waiting",
    }

    found = store.get(db, root)
    assert found is not None
    assert reconcile.mark_found_published(db, found, "facebook_found", utcnow(), {"cid": "c1"})
    _tick(settings, db)

    stored = _by_text(db)
    assert Counter(d["status"] for d in stored.values()) == {"published": 3}
    assert stored["part 1"]["replyTo"] == {
        "id": "facebook_found",
        "cid": "c1",
        "rootId": "facebook_found",
        "rootCid": "c1",
    }
    assert stored["part 2"]["replyTo"]["rootCid"] == "c1"


def test_the_same_request_again_makes_no_second_thread(db: Database[Doc]) -> None:
    add_account(db, "a")
    first = add_thread(db, "a", parts=2, key="k1")
    again = store.insert_once(db, thread_post("a", parts=1, key="k1"), utcnow())
    assert isinstance(again, store.Existing) and again.post_id == first
    assert db["posts"].count_documents({}) == 3


def test_scheduling_a_post_with_a_thread_and_a_first_comment_stores_them_waiting(
    db: Database[Doc],
) -> None:
    add_account(db, "m", platform="mastodon")
    add_account(db, "f", platform="facebook")
    now = utcnow()
    request = scheduling.PostRequest(
        account_id="m",
        scheduled_at=(now + timedelta(hours=1)).isoformat(),
        text="the post",
        thread=["part 1", "part 2"],
        first_comment="first!",
    )

    made = creating.schedule_one(db, request, now, Admission(timedelta(hours=1)))
    refused = creating.schedule_one(
        db, replace(request, account_id="f"), now, Admission(timedelta(hours=1))
    )

    assert isinstance(made, scheduling.Scheduled)
    stored = _by_text(db)
    assert {t: d["status"] for t, d in stored.items()} == {
        "the post": "scheduled",
        "part 1": "waiting",
        "part 2": "waiting",
        "first!": "waiting",
    }
    assert stored["part 2"]["parentId"] == stored["part 1"]["_id"]
    assert stored["first!"]["parentId"] == made.post_id
    assert isinstance(refused, scheduling.Invalid)
    assert [p.field for p in refused.problems] == ["thread"]
