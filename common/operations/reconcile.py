"""Looking again: posts whose outcome is unknown are looked for on their network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

from common import accounts, posts
from common.config import Settings
from common.db import Doc
from common.platforms.base import Registry
from common.publishing import look


@dataclass(frozen=True)
class ReconcileReport:
    checked: int = 0
    published: int = 0
    rescheduled: int = 0
    still_unknown: int = 0
    errors: int = 0


def reconcile_unknown(
    db: Database[Doc], settings: Settings, registry: Registry, now: datetime, limit: int = 100
) -> ReconcileReport:
    """Look for up to `limit` unknown posts (oldest first) on their platform.

    Found: published. Not found: still unknown under at_most_once, scheduled again under
    at_least_once. Kept out of the tick so an empty tick stays at three database commands;
    a run looks for its own lease-expired posts with the same `look`.
    """
    published = rescheduled = still = errors = 0
    candidates = posts.list_unknown(db, limit)
    known = accounts.load_many(db, (p.account_id for p in candidates))
    for post in candidates:
        looked = look(registry.get(post.platform), post, known.get(post.account_id))
        if looked.failed is not None:
            errors += 1
        elif looked.found is not None:
            published += posts.mark_found_published(db, post, looked.found.platform_post_id, now)
        elif settings.reconcile_policy == "at_least_once":
            rescheduled += posts.retry(db, post.id, now)
        else:
            still += 1
    return ReconcileReport(len(candidates), published, rescheduled, still, errors)
