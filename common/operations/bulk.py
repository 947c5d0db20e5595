"""Scheduling many posts at once: an API batch or a CSV file, every item or none."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from common import accounts, bulk_import, posts
from common.db import Doc
from common.operations.prompt_tasks import TaskStarter
from common.operations.scheduling import (
    AlreadyScheduled,
    Invalid,
    KeyReused,
    NoSuchAccount,
    Planned,
    PostRequest,
    Scheduled,
    admit_media,
    plan_post,
    repeat,
)

IMPORT_CHUNK = 500
DUPLICATE_KEY = 11000  # MongoDB's error code for a unique index refusing a write


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
    progress: Callable[[int, int], None] | None = None,
    tasks: TaskStarter | None = None,
) -> BatchScheduled | BatchRefused | KeyReused:
    """Schedule every item or none (an API batch, a CSV file); repeats make nothing new."""
    known = accounts.load_many(db, (r.account_id for r in requests))
    planned: list[posts.NewPost] = []
    problems: list[ItemProblem] = []
    for index, request in enumerate(requests):
        if request.stage != "scheduled":
            # A batch is staged and activated as `scheduled` together (posts.activate_import).
            problems.append(ItemProblem(index, "stage", "drafts are made one post at a time"))
            continue
        result: Planned | NoSuchAccount | Invalid | posts.NewPost
        result = plan_post(request, known.get(request.account_id), now)
        if isinstance(result, Planned):
            result = admit_media(db, result.new, now)
        if isinstance(result, posts.NewPost):
            planned.append(result)
        elif isinstance(result, NoSuchAccount):
            problems.append(ItemProblem(index, "accountId", f"no account {result.account_id!r}"))
        else:
            problems.extend(ItemProblem(index, p.field, p.message) for p in result.problems)
    if problems:
        return BatchRefused(tuple(problems))
    try:
        stored = _store_new(db, requests, planned, now, progress)
    except BulkWriteError as exc:
        if not _duplicate_key(exc):
            raise
        # An identical batch raced this one and won: what it made is now there to be named.
        stored = _store_new(db, requests, planned, now, progress)
    if tasks is not None and isinstance(stored, BatchScheduled):
        for made in stored.results:
            if isinstance(made, Scheduled):
                tasks.post_written(db, made.post_id, made.when.instant, now)
    return stored


def _duplicate_key(exc: BulkWriteError) -> bool:
    return any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", ()))


def _store_new(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    planned: Sequence[posts.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None,
) -> BatchScheduled | KeyReused:
    """Insert the posts no earlier request made; an item repeated within the batch is one post."""
    existing = posts.existing_keys(db, [p.idempotency_key or "" for p in planned])
    for request, new in zip(requests, planned, strict=True):
        earlier = existing.get(new.idempotency_key or "")
        if earlier is not None and isinstance(repeat(request, earlier), KeyReused):
            return KeyReused(request.idempotency_key or "")
    fresh: dict[str, posts.NewPost] = {}
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
    results: Sequence[Scheduled | AlreadyScheduled], planned: Sequence[posts.NewPost], key: str
) -> ObjectId:
    first = next(i for i, p in enumerate(planned) if p.idempotency_key == key)
    return results[first].post_id


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    message: str


@dataclass(frozen=True)
class ImportRefused:
    """Nothing was imported; every problem found, by line."""

    problems: tuple[RowProblem, ...]


@dataclass(frozen=True)
class AlreadyImported:
    """A row scheduled before (by an earlier import of the same file, for instance)."""

    line: int
    post_id: ObjectId


@dataclass(frozen=True)
class Imported:
    count: int
    already: tuple[AlreadyImported, ...] = ()


def import_csv(
    db: Database[Doc],
    handle: IO[str],
    now: datetime,
    *,
    default_time_zone: str | None = None,
    allow_late: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Imported | ImportRefused:
    """Schedule every row of a CSV file (common.bulk_import), or none if any row is wrong.

    Importing the same file again schedules nothing and names the posts made the first time.
    Raises UnicodeDecodeError and csv.Error for a file that is not UTF-8 CSV text.
    """
    rows, header_problems = bulk_import.read(handle)
    if header_problems:
        return ImportRefused(tuple(RowProblem(1, p.column, p.message) for p in header_problems))
    if not rows:
        return ImportRefused((RowProblem(1, "file", "no rows to import"),))
    requests = [row_request(row, default_time_zone, allow_late) for row in rows]
    result = schedule_batch(db, requests, now, progress)
    assert not isinstance(result, KeyReused)  # rows carry no request hash
    if isinstance(result, BatchRefused):
        return ImportRefused(
            tuple(
                RowProblem(rows[p.index].line, _COLUMN.get(p.field, p.field), p.message)
                for p in result.problems
            )
        )
    already = tuple(
        AlreadyImported(row.line, r.post_id)
        for row, r in zip(rows, result.results, strict=True)
        if isinstance(r, AlreadyScheduled)
    )
    return Imported(result.created, already)


# Problems name the CSV column, not the request field.
_COLUMN = {"accountId": "account", "idempotencyKey": "key"}


def row_request(row: bulk_import.Row, default_tz: str | None, allow_late: bool) -> PostRequest:
    cells = row.cells
    media_type = cells.get("media_type") or "image"
    return PostRequest(
        account_id=cells.get("account", ""),
        scheduled_at=cells.get("at", ""),
        time_zone=cells.get("tz") or default_tz,
        text=cells.get("text", ""),
        link=cells.get("link") or None,
        media=[{"url": url, "type": media_type} for url in cells.get("media", "").split()],
        idempotency_key=cells.get("key") or None,
        allow_late=allow_late,
    )


def insert_all(
    db: Database[Doc],
    new_posts: Sequence[posts.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> list[ObjectId]:
    """Insert every post, invisible to runs until all are in; on failure, none stay."""
    import_id = uuid.uuid4().hex
    total = len(new_posts)
    ids: list[ObjectId] = []
    try:
        for start in range(0, total, IMPORT_CHUNK):
            ids += posts.stage_many(db, new_posts[start : start + IMPORT_CHUNK], import_id, now)
            if progress is not None:
                progress(min(start + IMPORT_CHUNK, total), total)
    except Exception:
        posts.discard_import(db, import_id)
        raise
    if ids:
        posts.activate_import(db, import_id, now)
    return ids
