"""Creating posts, one or many, every item or none: the one way in for the API (a post or a
batch), the CLI, the web composer, a series' occurrences and a CSV file's rows
(operations.csv_import).

Every item is checked (scheduling.plan_post) before anything is stored. One post, with its
follow-ups, is one insert whose unique indexes detect a repeated request and a posting slot
taken first. Many are staged and then made visible together, so a run never sees half a batch.
A repeated request makes nothing new and names the posts it made.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import BulkWriteError

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
    instant_asked,
    is_queued,
    plan_post,
    repeat,
    url_problems,
)
from common.posts import listing, store
from common.validation import Problem

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
    # The accounts named by an item that do not exist (also among `problems`).
    unknown_accounts: tuple[str, ...] = ()

    def as_one(self) -> NoSuchAccount | Invalid:
        """The refusal of a single post, typed as schedule_one answers it."""
        if self.unknown_accounts:
            return NoSuchAccount(self.unknown_accounts[0])
        return Invalid(tuple(Problem(p.field, p.message) for p in self.problems))


@dataclass(frozen=True)
class BatchScheduled:
    """One result per item, in order: new posts and repeats of earlier requests."""

    results: tuple[Scheduled | AlreadyScheduled, ...]

    @property
    def created(self) -> int:
        return sum(isinstance(r, Scheduled) for r in self.results)


@dataclass(frozen=True)
class Plan:
    """The posts to store, in the requests' order, and the scheduled posts near them (read with
    their accounts, before the insert: the likeness warning costs no command of its own)."""

    posts: list[store.NewPost]
    neighbours: list[listing.Neighbour]


@dataclass(frozen=True)
class Raced:
    """Another request took a unique key first: the same request (what it made is now there to
    be named) or a posting slot. The caller gives back the slots of posts canceled since, then
    plans again."""

    slot_keys: list[str]


def schedule_one(
    db: Database[Doc], request: PostRequest, now: datetime, admission: Admission
) -> Scheduled | AlreadyScheduled | KeyReused | NoSuchAccount | Invalid:
    """One post, refused with the refusal's own type."""
    result = schedule(db, [request], now, admission)
    if isinstance(result, BatchRefused):
        return result.as_one()
    if isinstance(result, KeyReused):
        return result
    return result.results[0]


def schedule(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    now: datetime,
    admission: Admission,
    progress: Callable[[int, int], None] | None = None,
) -> BatchScheduled | BatchRefused | KeyReused:
    """Schedule every item or none; a repeated request makes nothing new."""
    for _ in range(SLOT_ATTEMPTS):
        plan = plan_all(db, requests, now, admission)
        if isinstance(plan, BatchRefused):
            return plan
        stored = store_planned(db, requests, plan.posts, now, progress)
        if not isinstance(stored, Raced):
            break
        store.free_stale_slots(db, stored.slot_keys)
    else:
        return BatchRefused((ItemProblem(0, "scheduledAt", SLOTS_RACED),))
    if isinstance(stored, KeyReused):
        return stored
    if admission.tasks is not None:
        made = [
            (r.post_id, r.when.instant)
            for q, r in zip(requests, stored.results, strict=True)
            if isinstance(r, Scheduled) and q.stage == "scheduled"
        ]
        admission.tasks.posts_written(db, made, now)
    return with_likeness(requests, stored, plan.neighbours)


def plan_all(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    now: datetime,
    admission: Admission,
    *,
    one_by_one: bool = False,
) -> Plan | BatchRefused:
    """Every item checked before anything is stored: the posts to store, or every problem
    (media URLs are fetched once each for the whole batch, in parallel). `one_by_one`: the
    items are checked together but will be stored one post at a time (the composer), so a
    draft and follow-ups are allowed as they are for one post."""
    slotted = in_next_slots(db, requests, now)  # "queue": distinct free slots, in order
    known, neighbours = listing.accounts_and_neighbours(
        db, [r.account_id for r in requests], _window(slotted, now)
    )
    planned: list[store.NewPost] = []
    places: list[int] = []
    problems: list[ItemProblem] = []
    unknown: list[str] = []
    for index, (request, placed) in enumerate(zip(requests, slotted, strict=True)):
        if len(requests) > 1 and not one_by_one:
            # Staged posts become `scheduled` together (store.activate_import): a draft, and
            # follow-ups waiting under their post, are made one post at a time.
            problems += _batch_refuses(index, request)
        result: Planned | NoSuchAccount | Invalid | store.NewPost
        if isinstance(placed, Invalid):
            result = placed
        else:
            result = plan_post(placed, known.get(request.account_id), now, admission.max_lateness)
        if isinstance(result, Planned):
            result = admit_media(db, result, now)
        if isinstance(result, store.NewPost):
            planned.append(replace(result, queued=is_queued(request)))
            places.append(index)
        elif isinstance(result, NoSuchAccount):
            unknown.append(result.account_id)
            problems.append(ItemProblem(index, "accountId", f"no account {result.account_id!r}"))
        else:
            problems.extend(ItemProblem(index, p.field, p.message) for p in result.problems)
    for index, found in zip(places, url_problems(admission.media_urls, planned), strict=True):
        problems.extend(ItemProblem(index, p.field, p.message) for p in found)
    problems.sort(key=lambda p: p.index)
    if problems:
        return BatchRefused(tuple(problems), tuple(unknown))
    return Plan(planned, neighbours)


def _batch_refuses(index: int, request: PostRequest) -> list[ItemProblem]:
    if request.stage != "scheduled":
        return [ItemProblem(index, "stage", "drafts are made one post at a time")]
    if request.thread or request.first_comment is not None:
        field = "thread" if request.thread else "firstComment"
        return [ItemProblem(index, field, "follow-ups are made one post at a time")]
    return []


def _window(
    slotted: Sequence[PostRequest | Invalid], now: datetime
) -> tuple[datetime, datetime] | None:
    """The due times the posts' likely neighbours have (None: no item names a time)."""
    asked = [
        instant
        for r in slotted
        if isinstance(r, PostRequest) and (instant := instant_asked(r, now)) is not None
    ]
    if not asked:
        return None
    return likeness.window(min(asked))[0], likeness.window(max(asked))[1]


def with_likeness(
    requests: Sequence[PostRequest],
    stored: BatchScheduled,
    neighbours: Sequence[listing.Neighbour],
) -> BatchScheduled:
    """The new posts, each with the scheduled posts it looks like (`neighbours`, read with the
    accounts before the insert)."""
    placed = [
        likeness.Placed(r.post_id, q.account_id, r.when.instant, q.text)
        for q, r in zip(requests, stored.results, strict=True)
        if isinstance(r, Scheduled)
    ]
    found: dict[ObjectId, list[likeness.LooksLike]] = {}
    for near in likeness.among(placed, neighbours):
        found.setdefault(near.post_id, []).append(near)
    return BatchScheduled(
        tuple(
            replace(r, looks_like=tuple(found.get(r.post_id, ())))
            if isinstance(r, Scheduled)
            else r
            for r in stored.results
        )
    )


def store_planned(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    planned: Sequence[store.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> BatchScheduled | KeyReused | Raced:
    """One post in one insert; many staged together (store_new)."""
    if len(planned) != 1:
        return store_new(db, requests, planned, now, progress)
    request, new = requests[0], planned[0]
    inserted = store.insert_once(db, new, now)
    if isinstance(inserted, store.SlotTaken):
        return Raced([inserted.key])
    if isinstance(inserted, store.Existing):
        again = repeat(request, inserted)
        return again if isinstance(again, KeyReused) else BatchScheduled((again,))
    return BatchScheduled((Scheduled(inserted, new.when),))


def _raced_on(error: Doc) -> bool:
    # MongoDB names the refusing index in the message ("... index: slotKey dup key: ...").
    message = str(error.get("errmsg", ""))
    return error.get("code") == DUPLICATE_KEY and any(
        f"index: {name} " in message for name in RACED_INDEXES
    )


def _raced(exc: BulkWriteError, planned: Sequence[store.NewPost]) -> Raced:
    """An identical batch stored first, or a post was queued to one of this batch's slots;
    any other write error is raised."""
    errors = exc.details.get("writeErrors", ())
    if not errors or not all(_raced_on(e) for e in errors):
        raise exc
    return Raced([store.slot_key(p.account_id, p.when.instant) for p in planned if p.queued])


def store_new(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    planned: Sequence[store.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None,
) -> BatchScheduled | KeyReused | Raced:
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
    try:
        made = insert_all(db, list(fresh.values()), now, progress)
    except BulkWriteError as exc:
        return _raced(exc, planned)
    ids = dict(zip(fresh, made, strict=True))
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
