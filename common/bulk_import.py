"""CSV bulk scheduling: every row validated first, then all rows inserted or none.

Columns (header row required): account, at, tz (optional), text, link (optional), media
(optional: URLs separated by spaces), media_type (optional: image | video).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from pymongo.database import Database

from common import accounts, posts
from common.clock import ScheduledTime
from common.db import Doc
from common.validation import check_post

REQUIRED_COLUMNS = ("account", "at")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "tz", "text", "link", "media", "media_type")
CHUNK = 500


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass(frozen=True)
class PlannedPost:
    line: int
    account_id: str
    platform: str
    content: posts.Content
    when: ScheduledTime


@dataclass(frozen=True)
class ImportPlan:
    rows: tuple[PlannedPost, ...]
    errors: tuple[RowError, ...]


def parse(handle: IO[str], db: Database[Doc], default_time_zone: str | None = None) -> ImportPlan:
    reader = csv.DictReader(handle)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in KNOWN_COLUMNS]
    if missing or unknown:
        header_errors = [RowError(1, c, "required column is missing") for c in missing]
        header_errors += [
            RowError(1, c, f"unknown column (known: {', '.join(KNOWN_COLUMNS)})") for c in unknown
        ]
        return ImportPlan((), tuple(header_errors))
    known = {a.id: a for a in accounts.list_all(db)}
    planned: list[PlannedPost] = []
    errors: list[RowError] = []
    for row in reader:
        line = reader.line_num
        result = _plan_row(
            line,
            {k.strip(): (v or "").strip() for k, v in row.items() if k},
            known,
            default_time_zone,
        )
        if isinstance(result, PlannedPost):
            planned.append(result)
        else:
            errors.extend(result)
    if not planned and not errors:
        errors.append(RowError(1, "file", "no rows to import"))
    return ImportPlan(tuple(planned), tuple(errors))


def _plan_row(
    line: int, row: dict[str, str], known: dict[str, accounts.Account], default_tz: str | None
) -> PlannedPost | list[RowError]:
    account = known.get(row.get("account", ""))
    if account is None:
        return [RowError(line, "account", f"no account {row.get('account')!r}")]
    media_type = row.get("media_type") or "image"
    checked = check_post(
        account.platform,
        text=row.get("text", ""),
        link=row.get("link") or None,
        media=[{"url": url, "type": media_type} for url in row.get("media", "").split()],
        scheduled_at=row.get("at", ""),
        time_zone=row.get("tz") or default_tz,
    )
    if not checked.ok or checked.when is None:
        return [RowError(line, p.field, p.message) for p in checked.problems]
    return PlannedPost(line, account.id, account.platform, checked.content, checked.when)


def insert_all(
    db: Database[Doc],
    plan: ImportPlan,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Insert every planned post, invisible to runs until all are in; on failure, none stay."""
    if plan.errors:
        raise ValueError("refusing to import a plan with errors")
    import_id = uuid.uuid4().hex
    total = len(plan.rows)
    try:
        for start in range(0, total, CHUNK):
            chunk = plan.rows[start : start + CHUNK]
            posts.stage_many(db, _new_posts(chunk), import_id, now)
            if progress is not None:
                progress(min(start + CHUNK, total), total)
    except Exception:
        posts.discard_import(db, import_id)
        raise
    return posts.activate_import(db, import_id, now)


def _new_posts(rows: Iterable[PlannedPost]) -> list[posts.NewPost]:
    return [posts.NewPost(r.account_id, r.platform, r.content, r.when) for r in rows]
