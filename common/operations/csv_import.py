"""A CSV file scheduled as one batch: every row checked before anything is stored, rows with a
`key` edit their post on a later import (the file format is common.bulk_import)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from bson import ObjectId
from pymongo.database import Database

from common import bulk_import, jsonfmt
from common.db import Doc
from common.operations import creating
from common.operations.admission import Admission
from common.operations.scheduling import (
    SLOT_ATTEMPTS,
    KeyReused,
    PostRequest,
    Scheduled,
)
from common.posts import actions, store


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
    admission: Admission,
    *,
    owner: str = "operator",
    default_time_zone: str | None = None,
    allow_late: bool = False,
    progress: Callable[[int, int], None] | None = None,
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
        plan = creating.plan_all(db, requests, now, admission)
        if isinstance(plan, creating.BatchRefused):
            problems = plan.problems
            return ImportRefused(tuple(_row_problem(rows[p.index].line, p) for p in problems))
        planned = plan.posts
        changed = _changed_rows(db, rows, planned)
        if isinstance(changed, ImportRefused):
            return changed
        keep = [i for i in range(len(rows)) if i not in changed]
        kept = [requests[i] for i in keep]
        stored = _store_rows(db, kept, [planned[i] for i in keep], now, progress)
        if isinstance(stored, creating.Raced):
            store.free_stale_slots(db, stored.slot_keys)
            continue
        stored = creating.with_likeness(kept, stored, plan.neighbours)
        imported = _imported(db, rows, keep, stored, changed, planned, now)
        if admission.tasks is not None:  # DISPATCH=tasks: the rows due before the next tick
            admission.tasks.posts_written(db, _written(stored, imported, changed, planned), now)
        return imported
    return ImportRefused((RowProblem(1, "at", creating.SLOTS_RACED),))


def _written(
    stored: creating.BatchScheduled,
    imported: Imported,
    changed: dict[int, store.Existing],
    planned: Sequence[store.NewPost],
) -> list[tuple[ObjectId, datetime]]:
    """The posts an import created or changed, with their due times."""
    made = [(r.post_id, r.when.instant) for r in stored.results if isinstance(r, Scheduled)]
    edited = {row.post_id for row in imported.updated}
    return made + [
        (e.post_id, planned[i].when.instant) for i, e in changed.items() if e.post_id in edited
    ]


def _changed_rows(
    db: Database[Doc], rows: Sequence[bulk_import.Row], planned: Sequence[store.NewPost]
) -> dict[int, store.Existing] | ImportRefused:
    """Rows whose key names a post they now describe differently, by row index."""
    keyed = [i for i, row in enumerate(rows) if row.cells.get("key")]
    existing = store.existing_keys(db, [planned[i].idempotency_key or "" for i in keyed])
    changed: dict[int, store.Existing] = {}
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
    planned: Sequence[store.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None,
) -> creating.BatchScheduled | creating.Raced:
    if not planned:
        return creating.BatchScheduled(())
    stored = creating.store_new(db, requests, planned, now, progress)
    assert not isinstance(stored, KeyReused)  # a changed row is an edit, never a reuse
    return stored


def _imported(
    db: Database[Doc],
    rows: Sequence[bulk_import.Row],
    keep: Sequence[int],
    stored: creating.BatchScheduled,
    changed: dict[int, store.Existing],
    planned: Sequence[store.NewPost],
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
        if actions.edit_content(
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


def _row_problem(line: int, problem: creating.ItemProblem) -> RowProblem:
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
