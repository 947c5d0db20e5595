"""Scheduling many posts at once: an API batch or a CSV file, every item or none."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import IO

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from common import accounts, bulk_import, jsonfmt, posts
from common.db import Doc
from common.operations import likeness
from common.operations.prompt_tasks import TaskStarter
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
)

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
    progress: Callable[[int, int], None] | None = None,
    tasks: TaskStarter | None = None,
    *,
    max_lateness: timedelta,
) -> BatchScheduled | BatchRefused | KeyReused:
    """Schedule every item or none (an API batch, a CSV file); repeats make nothing new."""
    for _ in range(SLOT_ATTEMPTS):
        planned = plan_all(db, requests, now, max_lateness)
        if isinstance(planned, BatchRefused):
            return planned
        try:
            stored = _store_new(db, requests, planned, now, progress)
            break
        except BulkWriteError as exc:
            _raced(db, exc, planned)
    else:
        return BatchRefused((ItemProblem(0, "scheduledAt", SLOTS_RACED),))
    if isinstance(stored, KeyReused):
        return stored
    if tasks is not None:
        made = [(r.post_id, r.when.instant) for r in stored.results if isinstance(r, Scheduled)]
        tasks.posts_written(db, made, now)
    return _with_likeness(db, requests, stored)


def plan_all(
    db: Database[Doc], requests: Sequence[PostRequest], now: datetime, max_lateness: timedelta
) -> list[posts.NewPost] | BatchRefused:
    """Every item checked before anything is stored: the posts to store, or every problem."""
    known = accounts.load_many(db, (r.account_id for r in requests))
    slotted = in_next_slots(db, requests, now)  # "queue": distinct free slots, in order
    planned: list[posts.NewPost] = []
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
        result: Planned | NoSuchAccount | Invalid | posts.NewPost
        if isinstance(placed, Invalid):
            result = placed
        else:
            result = plan_post(placed, known.get(request.account_id), now, max_lateness)
        if isinstance(result, Planned):
            result = admit_media(db, result.new, now)
        if isinstance(result, posts.NewPost):
            planned.append(replace(result, queued=is_queued(request)))
        elif isinstance(result, NoSuchAccount):
            problems.append(ItemProblem(index, "accountId", f"no account {result.account_id!r}"))
        else:
            problems.extend(ItemProblem(index, p.field, p.message) for p in result.problems)
    return BatchRefused(tuple(problems)) if problems else planned


def _with_likeness(
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


def _raced(db: Database[Doc], exc: BulkWriteError, planned: Sequence[posts.NewPost]) -> None:
    """An identical batch stored first (what it made is now there to be named), or a post was
    queued to one of this batch's slots: the caller plans again. Reservations of posts canceled
    since are taken back first. Any other write error is raised."""
    errors = exc.details.get("writeErrors", ())
    if not errors or not all(_raced_on(e) for e in errors):
        raise exc
    slots = [posts.slot_key(p.account_id, p.when.instant) for p in planned if p.queued]
    posts.free_stale_slots(db, slots)


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
class RowPost:
    """A row and the post it names."""

    line: int
    post_id: ObjectId


@dataclass(frozen=True)
class RowWarning:
    line: int
    post_id: ObjectId
    message: str


@dataclass(frozen=True)
class Imported:
    """What an import did, row by row: new posts, rows scheduled before (the same file again),
    rows whose `key` named an editable post that they changed, and warnings (a new post much
    like one scheduled next to it). `not_changed`: rows whose post was claimed between the check
    and the edit (rare); nothing else was left undone."""

    created: tuple[RowPost, ...] = ()
    already: tuple[RowPost, ...] = ()
    updated: tuple[RowPost, ...] = ()
    warnings: tuple[RowWarning, ...] = ()
    not_changed: tuple[RowProblem, ...] = ()

    @property
    def count(self) -> int:
        return len(self.created)


def import_csv(
    db: Database[Doc],
    handle: IO[str],
    now: datetime,
    *,
    max_lateness: timedelta,
    owner: str = "operator",
    default_time_zone: str | None = None,
    allow_late: bool = False,
    progress: Callable[[int, int], None] | None = None,
    tasks: TaskStarter | None = None,
) -> Imported | ImportRefused:
    """Schedule every row of a CSV file (common.bulk_import), or none if any row is wrong.

    Importing the same file again schedules nothing and names the posts made the first time. A
    row with a `key` names its post across imports: changed, it edits that post while the post
    is still editable (and is refused, with everything else, once it is not). With `tasks`
    (DISPATCH=tasks), the new and changed posts due before the next tick get their Cloud Tasks
    at once, in one batch, as single creates and edits do. Raises
    UnicodeDecodeError and csv.Error for a file that is not UTF-8 CSV text.
    """
    rows, header_problems = bulk_import.read(handle)
    if header_problems:
        return ImportRefused(tuple(RowProblem(1, p.column, p.message) for p in header_problems))
    if not rows:
        return ImportRefused((RowProblem(1, "file", "no rows to import"),))
    requests = [row_request(row, default_time_zone, allow_late, owner) for row in rows]
    for _ in range(SLOT_ATTEMPTS):
        planned = plan_all(db, requests, now, max_lateness)
        if isinstance(planned, BatchRefused):
            problems = planned.problems
            return ImportRefused(tuple(_row_problem(rows[p.index].line, p) for p in problems))
        changed = _changed_rows(db, rows, planned)
        if isinstance(changed, ImportRefused):
            return changed
        keep = [i for i in range(len(rows)) if i not in changed]
        try:
            stored = _store_rows(
                db, [requests[i] for i in keep], [planned[i] for i in keep], now, progress
            )
        except BulkWriteError as exc:
            _raced(db, exc, planned)
            continue
        imported = _imported(db, rows, keep, stored, changed, planned, now)
        if tasks is not None:  # DISPATCH=tasks: the rows due before the next tick, at once
            tasks.posts_written(db, _written(stored, imported, changed, planned), now)
        return imported
    return ImportRefused((RowProblem(1, "at", SLOTS_RACED),))


def _written(
    stored: BatchScheduled,
    imported: Imported,
    changed: dict[int, posts.Existing],
    planned: Sequence[posts.NewPost],
) -> list[tuple[ObjectId, datetime]]:
    """The posts an import created or changed, with their due times."""
    made = [(r.post_id, r.when.instant) for r in stored.results if isinstance(r, Scheduled)]
    edited = {row.post_id for row in imported.updated}
    return made + [
        (e.post_id, planned[i].when.instant) for i, e in changed.items() if e.post_id in edited
    ]


def _changed_rows(
    db: Database[Doc], rows: Sequence[bulk_import.Row], planned: Sequence[posts.NewPost]
) -> dict[int, posts.Existing] | ImportRefused:
    """Rows whose key names a post they now describe differently, by row index."""
    keyed = [i for i, row in enumerate(rows) if row.cells.get("key")]
    existing = posts.existing_keys(db, [planned[i].idempotency_key or "" for i in keyed])
    changed: dict[int, posts.Existing] = {}
    problems: list[RowProblem] = []
    for i in keyed:
        earlier = existing.get(planned[i].idempotency_key or "")
        if earlier is None or earlier.request_hash == planned[i].request_hash:
            continue
        if earlier.status != "scheduled":
            problems.append(
                RowProblem(
                    rows[i].line,
                    "key",
                    f"key {rows[i].cells['key']!r} names post {earlier.post_id}, already "
                    f"{earlier.status}: it can no longer change (give the row a new key to "
                    "schedule another post)",
                )
            )
        changed[i] = earlier
    return ImportRefused(tuple(problems)) if problems else changed


def _store_rows(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    planned: Sequence[posts.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None,
) -> BatchScheduled:
    if not planned:
        return BatchScheduled(())
    stored = _store_new(db, requests, planned, now, progress)
    assert not isinstance(stored, KeyReused)  # a changed row is an edit, never a reuse
    return _with_likeness(db, requests, stored)


def _imported(
    db: Database[Doc],
    rows: Sequence[bulk_import.Row],
    keep: Sequence[int],
    stored: BatchScheduled,
    changed: dict[int, posts.Existing],
    planned: Sequence[posts.NewPost],
    now: datetime,
) -> Imported:
    created, already, warnings = [], [], []
    for i, result in zip(keep, stored.results, strict=True):
        line = rows[i].line
        if isinstance(result, Scheduled):
            created.append(RowPost(line, result.post_id))
            warnings += [RowWarning(line, result.post_id, n.message()) for n in result.looks_like]
        else:
            already.append(RowPost(line, result.post_id))
    updated, not_changed = [], []
    for i, earlier in sorted(changed.items()):
        new = planned[i]
        if posts.edit_content(
            db, earlier.post_id, new.content, now, when=new.when, request_hash=new.request_hash
        ):
            updated.append(RowPost(rows[i].line, earlier.post_id))
        else:
            reason = f"post {earlier.post_id} was claimed for publishing before it could change"
            not_changed.append(RowProblem(rows[i].line, "key", reason))
    return Imported(
        tuple(created), tuple(already), tuple(updated), tuple(warnings), tuple(not_changed)
    )


# Problems name the CSV column, not the request field, in both modes.
_COLUMN = {
    "accountId": "account",
    "idempotencyKey": "key",
    "scheduledAt": "at",
    "timeZone": "tz",
}


def _row_problem(line: int, problem: ItemProblem) -> RowProblem:
    field = problem.field
    column = _COLUMN.get(field.split("[", 1)[0], field)
    return RowProblem(line, column, problem.message)


def row_request(
    row: bulk_import.Row, default_tz: str | None, allow_late: bool, owner: str = "operator"
) -> PostRequest:
    cells = row.cells
    media_type = cells.get("media_type") or "image"
    key = cells.get("key") or None
    return PostRequest(
        account_id=cells.get("account", ""),
        scheduled_at=cells.get("at", ""),
        time_zone=cells.get("tz") or default_tz,
        text=cells.get("text", ""),
        link=cells.get("link") or None,
        media=bulk_import.media_items(cells.get("media", ""), media_type),
        idempotency_key=key,
        allow_late=allow_late,
        owner=owner,
        key_names_row=True,
        # What the row says: the same key saying something else is an edit.
        request_hash=None if key is None else _fingerprint(cells, default_tz),
    )


def _fingerprint(cells: dict[str, str], default_tz: str | None) -> str:
    said = {k: v for k, v in cells.items() if k != "key"} | {"tz": cells.get("tz") or default_tz}
    return hashlib.sha256(jsonfmt.dumps(sorted(said.items())).encode()).hexdigest()


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
