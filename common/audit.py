"""The audit trail: every write through the API, who made it, when, and under which request.

Bounded: each entry expires after AUDIT_RETENTION_DAYS (a TTL index in db.ensure_indexes).
Entries name posts and accounts by id only; post text and tokens never go here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.database import Database

from common.db import AUDIT, Doc


@dataclass(frozen=True)
class Entry:
    who: str  # "key:<id>", "jwt:<subject>" or "admin_key"
    action: str  # e.g. "posts.create", "posts.cancel", "accounts.connect"
    targets: Sequence[str]
    request_id: str
    status: int


def record(db: Database[Doc], entry: Entry, now: datetime, retention: timedelta) -> None:
    db[AUDIT].insert_one(
        {
            "at": now,
            "who": entry.who,
            "action": entry.action,
            "targets": list(entry.targets)[:1000],
            "requestId": entry.request_id,
            "status": entry.status,
            "expireAt": now + retention,
        }
    )
