"""One post composed for several accounts (the web composer): scheduled at a time, put in each
account's next free posting slot ("add to queue"), saved as a draft, or submitted for approval.

Every item is checked before anything is stored. Posts due at a time go in as one batch (every
item or none, bulk.schedule_batch); drafts and posts awaiting approval are never due, so once
all of them are checked each is stored on its own, under its own idempotency key: a form sent
again names the posts it made rather than making more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from pymongo.database import Database

from common.db import Doc
from common.operations import bulk, scheduling
from common.operations.admission import Admission
from common.operations.bulk import BatchRefused, BatchScheduled, ItemProblem
from common.operations.scheduling import (
    AlreadyScheduled,
    Invalid,
    KeyReused,
    NoSuchAccount,
    PostRequest,
    Scheduled,
)


def compose(
    db: Database[Doc], requests: Sequence[PostRequest], now: datetime, admission: Admission
) -> BatchScheduled | BatchRefused | KeyReused:
    slotted = _in_slots(db, requests, now)
    if isinstance(slotted, BatchRefused):
        return slotted
    if all(r.stage == "scheduled" for r in slotted):
        return bulk.schedule_batch(db, slotted, now, admission)
    # Checked as posts due at their time would be (the same rules, media URLs fetched once),
    # then stored one by one.
    as_due = [replace(r, stage="scheduled") for r in slotted]
    checked = bulk.plan_all(db, as_due, now, admission)
    if isinstance(checked, BatchRefused):
        return checked
    results: list[Scheduled | AlreadyScheduled] = []
    checked_once = replace(admission, media_urls=None)  # their URLs were fetched just now
    for index, request in enumerate(slotted):
        made = scheduling.schedule_post(db, request, now, checked_once)
        if isinstance(made, KeyReused):
            return made
        if isinstance(made, (Invalid, NoSuchAccount)):
            # Changed between the check and the write (an account removed, media expired).
            return BatchRefused(_problems(index, made))
        results.append(made)
    return BatchScheduled(tuple(results))


def _in_slots(
    db: Database[Doc], requests: Sequence[PostRequest], now: datetime
) -> list[PostRequest] | BatchRefused:
    """ "Add to queue": each account's own next free slot, resolved before anything is stored."""
    resolved: list[PostRequest] = []
    problems: list[ItemProblem] = []
    for index, request in enumerate(requests):
        if request.scheduled_at.strip().lower() != scheduling.QUEUE:
            resolved.append(request)
            continue
        slotted = scheduling.in_next_slot(db, request, now)
        if isinstance(slotted, Invalid):
            problems.extend(_problems(index, slotted))
        else:
            resolved.append(slotted)
    return BatchRefused(tuple(problems)) if problems else resolved


def _problems(index: int, refused: Invalid | NoSuchAccount) -> tuple[ItemProblem, ...]:
    if isinstance(refused, NoSuchAccount):
        return (ItemProblem(index, "accountId", f"no account {refused.account_id!r}"),)
    return tuple(ItemProblem(index, p.field, p.message) for p in refused.problems)
