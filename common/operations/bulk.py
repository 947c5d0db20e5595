"""Scheduling many posts at once (an API batch, or the rows of a CSV file: operations.csv_import),
every item or none."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from common import accounts
from common.db import Doc
from common.operations import likeness
from common.operations.admission import Admission
from common.operations.scheduling import (
    SLOT_ATTEMPTS,
    AlreadyScheduled,
    Invalid,
    KeyReused,
    NoSuchAccount,
    Planned,
    PostRequest,
    Scheduled,
    admit_media,
    in_next_slots,
    is_queued,
    plan_post,
    repeat,
    url_problems,
)
from common.posts import store

IMPORT_CHUNK = 500
DUPLICATE_KEY = 11000  # MongoDB's error code for a unique index refusing a write
# The unique indexes two requests may race on: the same request twice, one posting slot.
RACED_INDEXES = ("idempotencyKey", "slotKey")
SLOTS_RACED = "posts queued at the same moment took these posting slots again and again; try again"


@dataclass(frozen=True)
class ItemProblem:
    """What is wrong with one item of a batch, by its index (0-based)."""

    index: int
    field: str
    message: str


@dataclass(frozen=True)
class BatchRefused:
    """Nothing was scheduled; every problem found, by item."""

    problems: tuple[ItemProblem, ...]


@dataclass(frozen=True)
class BatchScheduled:
    """One result per item, in order: new posts and repeats of earlier requests."""

    results: tuple[Scheduled | AlreadyScheduled, ...]

    @property
    def created(self) -> int:
        return sum(isinstance(r, Scheduled) for r in self.results)


def schedule_batch(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    now: datetime,
    admission: Admission,
    progress: Callable[[int, int], None] | None = None,
) -> BatchScheduled | BatchRefused | KeyReused:
    """Schedule every item or none (an API batch, a CSV file); repeats make nothing new."""
    for _ in range(SLOT_ATTEMPTS):
        planned = plan_all(db, requests, now, admission)
        if isinstance(planned, BatchRefused):
            return planned
        try:
            stored = store_new(db, requests, planned, now, progress)
            break
        except BulkWriteError as exc:
            raced(db, exc, planned)
    else:
        return BatchRefused((ItemProblem(0, "scheduledAt", SLOTS_RACED),))
    if isinstance(stored, KeyReused):
        return stored
    if admission.tasks is not None:
        made = [(r.post_id, r.when.instant) for r in stored.results if isinstance(r, Scheduled)]
        admission.tasks.posts_written(db, made, now)
    return with_likeness(db, requests, stored)


def plan_all(
    db: Database[Doc], requests: Sequence[PostRequest], now: datetime, admission: Admission
) -> list[store.NewPost] | BatchRefused:
    """Every item checked before anything is stored: the posts to store, or every problem
    (media URLs are fetched once each for the whole batch, in parallel)."""
    known = accounts.load_many(db, (r.account_id for r in requests))
    slotted = in_next_slots(db, requests, now)  # "queue": distinct free slots, in order
    planned: list[store.NewPost] = []
    places: list[int] = []
    problems: list[ItemProblem] = []
    for index, (request, placed) in enumerate(zip(requests, slotted, strict=True)):
        if request.stage != "scheduled":
            # A batch is staged and activated as `scheduled` together (posts.activate_import).
            problems.append(ItemProblem(index, "stage", "drafts are made one post at a time"))
            continue
        if request.thread or request.first_comment is not None:
            # Staged rows become `scheduled` together; follow-ups wait under their post.
            field = "thread" if request.thread else "firstComment"
            problems.append(ItemProblem(index, field, "follow-ups are made one post at a time"))
            continue
        result: Planned | NoSuchAccount | Invalid | store.NewPost
        if isinstance(placed, Invalid):
            result = placed
        else:
            account = known.get(request.account_id)
            result = plan_post(placed, account, now, admission.max_lateness)
        if isinstance(result, Planned):
            result = admit_media(db, result.new, now)
        if isinstance(result, store.NewPost):
            planned.append(replace(result, queued=is_queued(request)))
            places.append(index)
        elif isinstance(result, NoSuchAccount):
            problems.append(ItemProblem(index, "accountId", f"no account {result.account_id!r}"))
        else:
            problems.extend(ItemProblem(index, p.field, p.message) for p in result.problems)
    for index, found in zip(places, url_problems(admission.media_urls, planned), strict=True):
        problems.extend(ItemProblem(index, p.field, p.message) for p in found)
    problems.sort(key=lambda p: p.index)
    return BatchRefused(tuple(problems)) if problems else planned


def with_likeness(
    db: Database[Doc], requests: Sequence[PostRequest], stored: BatchScheduled
) -> BatchScheduled:
    """The new posts, each with the scheduled posts it looks like (one query for the batch)."""
    placed = [
        likeness.Placed(r.post_id, q.account_id, r.when.instant, q.text)
        for q, r in zip(requests, stored.results, strict=True)
        if isinstance(r, Scheduled)
    ]
    found: dict[ObjectId, list[likeness.LooksLike]] = {}
    for near in likeness.looks_like(db, placed):
        found.setdefault(near.post_id, []).append(near)
    return BatchScheduled(
        tuple(
            replace(r, looks_like=tuple(found.get(r.post_id, ())))
            if isinstance(r, Scheduled)
            else r
            for r in stored.results
        )
    )


def _raced_on(error: Doc) -> bool:
    # MongoDB names the refusing index in the message ("... index: slotKey dup key: ...").
    message = str(error.get("errmsg", ""))
    return error.get("code") == DUPLICATE_KEY and any(
        f"index: {name} " in message for name in RACED_INDEXES
    )


def raced(db: Database[Doc], exc: BulkWriteError, planned: Sequence[store.NewPost]) -> None:
    """An identical batch stored first (what it made is now there to be named), or a post was
    queued to one of this batch's slots: the caller plans again. Reservations of posts canceled
    since are taken back first. Any other write error is raised."""
    errors = exc.details.get("writeErrors", ())
    if not errors or not all(_raced_on(e) for e in errors):
        raise exc
    slots = [store.slot_key(p.account_id, p.when.instant) for p in planned if p.queued]
    store.free_stale_slots(db, slots)


def store_new(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    planned: Sequence[store.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None,
) -> BatchScheduled | KeyReused:
    """Insert the posts no earlier request made; an item repeated within the batch is one post."""
    existing = store.existing_keys(db, [p.idempotency_key or "" for p in planned])
    for request, new in zip(requests, planned, strict=True):
        earlier = existing.get(new.idempotency_key or "")
        if earlier is not None and isinstance(repeat(request, earlier), KeyReused):
            return KeyReused(request.idempotency_key or "")
    fresh: dict[str, store.NewPost] = {}
    for new in planned:
        key = new.idempotency_key or ""
        if key not in existing:
            fresh.setdefault(key, new)
    ids = dict(zip(fresh, insert_all(db, list(fresh.values()), now, progress), strict=True))
    results: list[Scheduled | AlreadyScheduled] = []
    for new in planned:
        key = new.idempotency_key or ""
        if key in existing:
            results.append(AlreadyScheduled(existing[key].post_id, existing[key].status))
        elif key in ids:
            results.append(Scheduled(ids.pop(key), new.when))
        else:  # the second of two equal items in this batch
            results.append(AlreadyScheduled(_made_for(results, planned, key), "scheduled"))
    return BatchScheduled(tuple(results))


def _made_for(
    results: Sequence[Scheduled | AlreadyScheduled], planned: Sequence[store.NewPost], key: str
) -> ObjectId:
    first = next(i for i, p in enumerate(planned) if p.idempotency_key == key)
    return results[first].post_id


def insert_all(
    db: Database[Doc],
    new_posts: Sequence[store.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> list[ObjectId]:
    """Insert every post, invisible to runs until all are in; on failure, none stay."""
    import_id = uuid.uuid4().hex
    total = len(new_posts)
    ids: list[ObjectId] = []
    try:
        for start in range(0, total, IMPORT_CHUNK):
            ids += store.stage_many(db, new_posts[start : start + IMPORT_CHUNK], import_id, now)
            if progress is not None:
                progress(min(start + IMPORT_CHUNK, total), total)
    except Exception:
        store.discard_import(db, import_id)
        raise
    if ids:
        store.activate_import(db, import_id, now)
    return ids
