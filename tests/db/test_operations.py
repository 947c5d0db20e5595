"""Operator actions answer typed refusals that say why, and change nothing when refused."""

from __future__ import annotations

from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database

from common.clock import utcnow
from common.db import Doc
from common.operations import post_actions
from common.operations.admission import Admission
from common.operations.post_actions import Done, PostChanges, Refused
from common.transitions.starts import Refusal
from tests.conftest import add_account, add_post

LATENESS = timedelta(days=1)  # MAX_LATENESS_SECONDS by default


def _set(db: Database[Doc], pid: ObjectId, **fields: object) -> None:
    db["posts"].update_one({"_id": pid}, {"$set": fields})


def test_cancel_retry_and_edit_say_why_they_refuse(db: Database[Doc]) -> None:
    add_account(db, "a")
    now = utcnow()
    scheduled = add_post(db, "a", now + timedelta(hours=1))
    sending = add_post(db, "a", now)
    _set(db, sending, status="publishing", sendStartedAt=now)
    published = add_post(db, "a", now)
    _set(db, published, status="published")
    missing = ObjectId()
    new_text = PostChanges(text="edited")

    assert post_actions.retry_post(db, scheduled, now) == Refused(
        Refusal.NOT_RETRYABLE, "scheduled"
    )
    assert post_actions.cancel_post(db, sending, now) == Refused(Refusal.SEND_BEGUN, "publishing")
    assert post_actions.edit_post(db, sending, new_text, now, Admission(LATENESS)) == Refused(
        Refusal.SEND_BEGUN, "publishing"
    )
    assert post_actions.cancel_post(db, published, now) == Refused(Refusal.FINISHED, "published")
    assert post_actions.edit_post(db, published, new_text, now, Admission(LATENESS)) == Refused(
        Refusal.NOT_EDITABLE, "published"
    )
    assert post_actions.cancel_post(db, missing, now) == Refused(Refusal.NOT_FOUND, None)
    assert db["posts"].count_documents({"version": {"$gt": 1}}) == 0  # nothing changed

    assert post_actions.edit_post(db, scheduled, new_text, now, Admission(LATENESS)) == Done(
        scheduled
    )
    assert post_actions.cancel_post(db, scheduled, now) == Done(scheduled)
    doc = db["posts"].find_one({"_id": scheduled})
    assert doc is not None
    assert (doc["status"], doc["content"]["text"], doc["version"]) == ("canceled", "edited", 3)
