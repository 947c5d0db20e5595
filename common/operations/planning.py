"""Planning a post before it goes out: drafts and approval, and an account's posting slots.

A draft is never published. Submitted, it waits for an approver, who approves it (it becomes
`scheduled`, due at its time) or sends it back to `draft` with a comment. Each step is one
conditional write whose starting states come from the one table (starts.ALLOWED); a
refusal says why, explained from the same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bson import ObjectId
from pymongo.database import Database

from common import accounts, slots
from common.db import Doc
from common.operations.admission import Admission
from common.operations.post_actions import Done, Refused, act, refused
from common.operations.scheduling import Invalid, NoSuchAccount
from common.posts import actions, store
from common.transitions import policy, starts
from common.validation import Problem

MAX_COMMENT = 2000


def submit_post(db: Database[Doc], post_id: ObjectId, now: datetime) -> Done | Refused:
    """A draft asks for approval."""
    return act(db, post_id, "submit", lambda: actions.review(db, post_id, "submit", now), now)


def approve_post(
    db: Database[Doc],
    post_id: ObjectId,
    now: datetime,
    admission: Admission,
) -> Done | Refused:
    """Approve a post awaiting approval: it goes out at its time, or now if that has passed.

    The lateness rule is the one a run applies (policy.too_late): a post whose time is
    longer ago than MAX_LATENESS_SECONDS is refused here rather than approved only to expire.
    """
    post = store.get(db, post_id)
    pending = post is not None and post.status == "pending_approval"
    if pending and post is not None and policy.too_late(post, admission.max_lateness, now):
        return refused(starts.Refusal.TOO_LATE, post)
    done = act(db, post_id, "approve", lambda: actions.review(db, post_id, "approve", now), now)
    if admission.tasks is not None and isinstance(done, Done) and post is not None:
        admission.tasks.post_written(db, post_id, post.due_at, now)
    return done


def send_back_post(
    db: Database[Doc], post_id: ObjectId, comment: str, now: datetime
) -> Done | Refused:
    """Return a post awaiting approval to its author as a draft, with the approver's comment."""
    return act(
        db,
        post_id,
        "send_back",
        lambda: actions.review(db, post_id, "send_back", now, comment=comment[:MAX_COMMENT]),
        now,
    )


def set_posting_slots(
    db: Database[Doc], account_id: str, time_zone: str, slot_texts: Sequence[str], now: datetime
) -> slots.Schedule | Invalid | NoSuchAccount:
    """Replace an account's weekly slots (`mon@09:00` in `time_zone`); posts stay put."""
    try:
        schedule = slots.check(time_zone, [slots.Slot.parse(s) for s in slot_texts])
    except ValueError as exc:
        return Invalid((Problem("slots", str(exc)),))
    if not accounts.set_slots(db, account_id, schedule, now):
        return NoSuchAccount(account_id)
    return schedule


def slots_json(schedule: slots.Schedule) -> dict[str, object]:
    return {"timeZone": schedule.time_zone, "slots": [str(s) for s in schedule.slots]}
