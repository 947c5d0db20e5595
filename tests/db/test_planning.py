"""Drafts and approval through the one state machine: a draft is never due, an approver's
approval makes it due at its time under the run's lateness rule, and each refusal says why."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from common import slots
from common.clock import utcnow
from common.db import Doc
from common.operations import creating, csv_import, planning, post_actions, scheduling
from common.operations.admission import Admission
from common.operations.post_actions import Done, PostChanges, Refused
from common.posts import listing, store
from common.posts import queue as post_queue
from common.slots import Schedule
from common.transitions.starts import Refusal
from tests.conftest import add_account, add_post

LATENESS = timedelta(hours=1)


def _make(db: Database[Doc], stage: str, at: datetime, now: datetime) -> ObjectId:
    request = scheduling.PostRequest(
        account_id="a",
        scheduled_at=at.isoformat(),
        text=f"planned {stage} {at.isoformat()}",
        stage=stage,  # type: ignore[arg-type]
        allow_late=True,
    )
    made = creating.schedule_one(db, request, now, Admission(timedelta(days=1)))
    assert isinstance(made, scheduling.Scheduled)
    return made.post_id


def _status(db: Database[Doc], pid: ObjectId) -> str:
    post = store.get(db, pid)
    assert post is not None
    return post.status


def test_drafts_and_posts_awaiting_approval_are_never_due(db: Database[Doc]) -> None:
    add_account(db, "a")
    now = utcnow()
    past = now - timedelta(minutes=10)
    draft = _make(db, "draft", past, now)
    pending = _make(db, "pending_approval", past, now)
    ready = _make(db, "scheduled", past, now)

    snapshot = post_queue.snapshot_due(db, now + timedelta(days=1), limit=100)

    assert [p.id for p in snapshot.due] == [ready]
    assert (_status(db, draft), _status(db, pending)) == ("draft", "pending_approval")


def test_a_draft_is_submitted_sent_back_with_a_comment_and_approved(db: Database[Doc]) -> None:
    add_account(db, "a")
    now = utcnow()
    pid = _make(db, "draft", now + timedelta(hours=2), now)

    assert planning.approve_post(db, pid, now, Admission(LATENESS)) == Refused(
        Refusal.NOT_PENDING, "draft"
    )
    assert planning.submit_post(db, pid, now) == Done(pid)
    assert planning.submit_post(db, pid, now) == Refused(Refusal.NOT_DRAFT, "pending_approval")
    assert planning.send_back_post(db, pid, "shorter, please", now) == Done(pid)
    doc = listing.get_document(db, pid)
    assert doc is not None and (doc["status"], doc["reviewComment"]) == ("draft", "shorter, please")

    assert post_actions.edit_post(
        db, pid, PostChanges(text="short"), now, Admission(LATENESS)
    ) == Done(pid)
    assert _status(db, pid) == "draft"  # an edit never schedules a draft
    assert planning.submit_post(db, pid, now) == Done(pid)
    assert planning.approve_post(db, pid, now, Admission(LATENESS)) == Done(pid)
    doc = listing.get_document(db, pid)
    assert doc is not None
    assert (doc["status"], doc["version"], "reviewComment" in doc) == ("scheduled", 6, False)
    due = post_queue.snapshot_due(db, now + timedelta(hours=3), limit=10).due
    assert [p.id for p in due] == [pid]


def test_approval_after_the_due_time_follows_the_lateness_rule(db: Database[Doc]) -> None:
    add_account(db, "a")
    now = utcnow()
    a_little_late = _make(db, "pending_approval", now - timedelta(minutes=30), now)
    too_late = _make(db, "pending_approval", now - timedelta(hours=2), now)

    assert planning.approve_post(db, a_little_late, now, Admission(LATENESS)) == Done(a_little_late)
    assert planning.approve_post(db, too_late, now, Admission(LATENESS)) == Refused(
        Refusal.TOO_LATE, "pending_approval"
    )
    assert [p.id for p in post_queue.snapshot_due(db, now, limit=10).due] == [a_little_late]
    assert post_actions.cancel_post(db, too_late, now) == Done(too_late)


def _queue(db: Database[Doc], text: str, now: datetime) -> scheduling.Scheduled:
    request = scheduling.PostRequest(account_id="a", scheduled_at="queue", text=text)
    made = creating.schedule_one(db, request, now, Admission(LATENESS))
    assert isinstance(made, scheduling.Scheduled), made
    return made


def test_add_to_queue_fills_the_next_free_slots_and_a_removed_post_frees_its_own(
    db: Database[Doc],
) -> None:
    add_account(db, "a")
    now = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)  # Friday, before Berlin's spring change
    refused = creating.schedule_one(
        db,
        scheduling.PostRequest(account_id="a", scheduled_at="queue", text="x"),
        now,
        Admission(LATENESS),
    )
    assert isinstance(refused, scheduling.Invalid)
    assert [p.message for p in refused.problems] == ["the account has no posting slots"]
    slots = ["fri@18:00", "sun@09:00", "mon@09:00"]
    assert planning.set_posting_slots(db, "nobody", "Europe/Berlin", slots, now) == (
        scheduling.NoSuchAccount("nobody")
    )
    assert isinstance(planning.set_posting_slots(db, "a", "Europe/Berlin", slots, now), Schedule)

    made = [_queue(db, f"post {n}", now) for n in range(3)]

    assert [m.when.local_time for m in made] == [
        "2027-03-26T18:00:00+01:00",
        "2027-03-28T09:00:00+02:00",
        "2027-03-29T09:00:00+02:00",
    ]
    assert post_actions.cancel_post(db, made[1].post_id, now) == Done(made[1].post_id)
    moved = post_actions.edit_post(
        db,
        made[0].post_id,
        PostChanges(scheduled_at="2027-04-10T12:00:00+00:00"),
        now,
        Admission(LATENESS),
    )
    assert moved == Done(made[0].post_id)
    refill = [_queue(db, f"again {n}", now) for n in range(3)]
    assert [m.when.local_time for m in refill] == [
        "2027-03-26T18:00:00+01:00",
        "2027-03-28T09:00:00+02:00",
        "2027-04-02T18:00:00+02:00",
    ]
    assert db["posts"].count_documents({}) == 6


def test_a_post_queued_next_to_one_much_like_it_is_warned_as_any_new_post_is(
    db: Database[Doc],
) -> None:
    add_account(db, "a")
    now = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)  # Friday; the slot is 18:00 Berlin, 17:00 UTC
    assert isinstance(
        planning.set_posting_slots(db, "a", "Europe/Berlin", ["fri@18:00"], now), Schedule
    )
    earlier = add_post(db, "a", datetime(2027, 3, 26, 17, 0, 30, tzinfo=UTC), text="Spring sale!")

    made = _queue(db, "spring sale", now)

    assert made.when.local_time == "2027-03-26T18:00:00+01:00"
    assert [(n.other_id, n.seconds_apart) for n in made.looks_like] == [(earlier, 30)]


def test_posts_queued_at_the_same_moment_each_reserve_a_slot_of_their_own(
    db: Database[Doc],
) -> None:
    add_account(db, "a")
    now = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)
    daily = [f"{day}@{hour:02d}:00" for day in slots.WEEKDAYS for hour in (9, 13, 18)]
    assert isinstance(planning.set_posting_slots(db, "a", "Europe/Berlin", daily, now), Schedule)
    racers = 12
    start = threading.Barrier(racers)

    def queue(n: int) -> scheduling.Scheduled:
        start.wait()
        return _queue(db, f"racer {n}", now)

    with ThreadPoolExecutor(racers) as pool:
        made = list(pool.map(queue, range(racers)))

    stored = list(db["posts"].find({"accountId": "a"}))
    assert len(made) == len(stored) == racers
    assert len({d["scheduledAt"] for d in stored}) == racers  # no slot shared
    # The first twelve slots from Friday 13:00 local (12:00 UTC) on: none skipped either.
    first = slots.occurrences(slots.check("Europe/Berlin", _parsed(daily)), now, 7)[:racers]
    assert sorted(d["scheduledAt"].replace(tzinfo=UTC) for d in stored) == first


def _parsed(texts: list[str]) -> list[slots.Slot]:
    return [slots.Slot.parse(t) for t in texts]


def _weekly_slots(db: Database[Doc], now: datetime) -> list[datetime]:
    add_account(db, "a")
    daily = [f"{day}@{hour:02d}:00" for day in slots.WEEKDAYS for hour in (9, 13, 18)]
    assert isinstance(planning.set_posting_slots(db, "a", "Europe/Berlin", daily, now), Schedule)
    return slots.occurrences(slots.check("Europe/Berlin", _parsed(daily)), now, 7)


def test_a_batch_and_a_csv_file_queue_their_posts_in_distinct_next_slots_in_order(
    db: Database[Doc],
) -> None:
    now = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)
    free = _weekly_slots(db, now)
    items = [
        scheduling.PostRequest(account_id="a", scheduled_at="queue", text=f"batch {n}", item=n)
        for n in range(3)
    ]
    batch = creating.schedule(db, items, now, Admission(LATENESS))
    assert isinstance(batch, creating.BatchScheduled) and batch.created == 3
    csv = "account,at,text,key\n" + "".join(f"a,queue,row {n},row-{n}\n" for n in range(3))
    imported = csv_import.import_csv(db, io.StringIO(csv), now, Admission(LATENESS))
    assert isinstance(imported, csv_import.Imported) and imported.count == 3
    again = csv_import.import_csv(db, io.StringIO(csv), now, Admission(LATENESS))
    assert isinstance(again, csv_import.Imported) and (again.count, len(again.already)) == (0, 3)

    stored = list(db["posts"].find(sort=[("scheduledAt", 1)]))
    assert [d["content"]["text"] for d in stored] == [
        "batch 0",
        "batch 1",
        "batch 2",
        "row 0",
        "row 1",
        "row 2",
    ]
    assert [d["scheduledAt"].replace(tzinfo=UTC) for d in stored] == free[:6]


def test_a_csv_file_queued_while_single_posts_are_keeps_every_slot_distinct(
    db: Database[Doc],
) -> None:
    now = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)
    free = _weekly_slots(db, now)
    csv = "account,at,text\n" + "".join(f"a,queue,row {n}\n" for n in range(6))
    start = threading.Barrier(7)

    def import_file() -> object:
        start.wait()
        return csv_import.import_csv(db, io.StringIO(csv), now, Admission(LATENESS))

    def queue(n: int) -> scheduling.Scheduled:
        start.wait()
        return _queue(db, f"single {n}", now)

    with ThreadPoolExecutor(7) as pool:
        imported = pool.submit(import_file)
        singles = list(pool.map(queue, range(6)))

    result = imported.result()
    assert isinstance(result, csv_import.Imported) and result.count == 6 and len(singles) == 6
    stored = list(db["posts"].find())
    assert len(stored) == 12
    assert sorted(d["scheduledAt"].replace(tzinfo=UTC) for d in stored) == free[:12]
