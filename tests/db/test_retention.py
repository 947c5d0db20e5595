"""Finished posts carry `finishedAt`; POST_RETENTION_DAYS turns it into a TTL index.

The local server accepts TTL indexes but does not expire documents (nor does MongoDB before
its TTL monitor's next pass, every 60 s), so these tests check the index and the field that
the deletion relies on: only finished posts have it, so only they can ever be removed.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo.database import Database

from common.clock import utcnow
from common.config import Settings
from common.db import POST_RETENTION_INDEX, Doc, ensure_indexes
from common.engine import Trigger, execute_once
from common.model import Post
from common.operations import post_actions
from common.platforms.base import Outcome, Permanent
from common.posts import actions
from tests.conftest import add_account, add_post
from tests.recording import registry_for

MINUTE = timedelta(minutes=1)


def _retention(db: Database[Doc]) -> object:
    index = db["posts"].index_information().get(POST_RETENTION_INDEX)
    return None if index is None else index.get("expireAfterSeconds")


def test_retention_is_off_by_default_set_changed_kept_and_turned_off(db: Database[Doc]) -> None:
    assert _retention(db) is None
    ensure_indexes(db, 30)
    assert _retention(db) == 30 * 86_400
    ensure_indexes(db, 7)
    assert _retention(db) == 7 * 86_400
    ensure_indexes(db)  # a command run without the setting leaves it alone
    assert _retention(db) == 7 * 86_400
    ensure_indexes(db, 0)
    assert _retention(db) is None


def test_only_finished_posts_carry_the_time_retention_counts_from(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "a")
    published = add_post(db, "a", utcnow() - MINUTE, text="ok")
    failed = add_post(db, "a", utcnow() - MINUTE, text="refused")
    canceled = add_post(db, "a", utcnow() + MINUTE)
    waiting = add_post(db, "a", utcnow() + timedelta(hours=1))
    actions.cancel(db, canceled, utcnow())

    def refuse(post: Post) -> Outcome | None:
        return Permanent("validation", "refused") if post.content.text == "refused" else None

    execute_once(settings, Trigger("cli"), registry_for(db, script=refuse), db=db)
    finished = {d["_id"] for d in db["posts"].find({"finishedAt": {"$exists": True}})}
    assert finished == {published, failed, canceled}
    assert waiting not in finished
    post_actions.retry_post(db, failed, utcnow())
    doc = db["posts"].find_one({"_id": failed})
    assert doc is not None and "finishedAt" not in doc and doc["status"] == "scheduled"
