"""One post composed for several accounts (the web composer): scheduled at a time, put in each
account's next free posting slot ("add to queue"), saved as a draft, or submitted for approval.

Every item is checked before anything is stored. Posts due at a time go in as one batch (every
item or none, creating.schedule). Drafts and posts awaiting approval are never due, and a
post with follow-ups (a first comment, a thread's parts) stores them under it, which a batch
does not do: once all of them are checked, each of those is stored on its own, under its own
idempotency key, so a form sent again names the posts it made rather than making more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from pymongo.database import Database

from common.db import Doc
from common.operations import creating, scheduling
from common.operations.admission import Admission
from common.operations.creating import BatchRefused, BatchScheduled, ItemProblem
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
    if all(r.stage == "scheduled" and not _has_follow_ups(r) for r in slotted):
        return creating.schedule(db, slotted, now, admission)
    checked = _check_all(db, slotted, now, admission)
    if checked is not None:
        return checked
    results: list[Scheduled | AlreadyScheduled] = []
    checked_once = replace(admission, media_urls=None)  # their URLs were fetched just now
    for index, request in enumerate(slotted):
        made = creating.schedule_one(db, request, now, checked_once)
        if isinstance(made, KeyReused):
            return made
        if isinstance(made, (Invalid, NoSuchAccount)):
            # Changed between the check and the write (an account removed, media expired).
            return BatchRefused(_problems(index, made))
        results.append(made)
    return BatchScheduled(tuple(results))


def _has_follow_ups(request: PostRequest) -> bool:
    return bool(request.thread) or request.first_comment is not None


def _check_all(
    db: Database[Doc], requests: Sequence[PostRequest], now: datetime, admission: Admission
) -> BatchRefused | None:
    """Every item, its follow-ups included, checked as it will be stored (the same rules, one
    read of the accounts, media URLs fetched once): every problem, or None."""
    checked = creating.plan_all(db, requests, now, admission, one_by_one=True)
    return checked if isinstance(checked, BatchRefused) else None


def _in_slots(
    db: Database[Doc], requests: Sequence[PostRequest], now: datetime
) -> list[PostRequest] | BatchRefused:
    """ "Add to queue": each account's own next free slot, resolved before anything is stored."""
    resolved: list[PostRequest] = []
    problems: list[ItemProblem] = []
    for index, slotted in enumerate(scheduling.in_next_slots(db, requests, now)):
        if isinstance(slotted, Invalid):
            problems.extend(_problems(index, slotted))
        else:
            resolved.append(slotted)
    return BatchRefused(tuple(problems)) if problems else resolved


def _problems(index: int, refused: Invalid | NoSuchAccount) -> tuple[ItemProblem, ...]:
    if isinstance(refused, NoSuchAccount):
        return (ItemProblem(index, "accountId", f"no account {refused.account_id!r}"),)
    return tuple(ItemProblem(index, p.field, p.message) for p in refused.problems)
