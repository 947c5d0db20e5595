"""The audit trail: every write through the API and the web app, and every manual run
(run_http), who made it, when, and under which request.

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
    who: str  # "key:<id>", "jwt:<subject>", "admin_key" or (web app) "member:<email>"
    action: str  # e.g. "posts.create", "posts.cancel", "accounts.connect"
    targets: Sequence[str]
    request_id: str
    status: int


def record(db: Database[Doc], entry: Entry, now: datetime, retention_days: int) -> None:
    """Store `entry`, to expire `retention_days` (AUDIT_RETENTION_DAYS) after `now`."""
    db[AUDIT].insert_one(
        {
            "at": now,
            "who": entry.who,
            "action": entry.action,
            "targets": list(entry.targets)[:1000],
            "requestId": entry.request_id,
            "status": entry.status,
            "expireAt": now + timedelta(days=retention_days),
        }
    )


def for_target(db: Database[Doc], target: str, limit: int = 100) -> list[Doc]:
    """What was done to one post or account, oldest first (the web app's post page)."""
    found = db[AUDIT].find({"targets": target}, {"_id": 0, "expireAt": 0})
    return list(found.sort("at", 1).limit(limit))
