"""Reconciliation of `unknown` posts (the CLI and operators call this; the engine does not).

The engine already reconciles lease-expired posts when it claims them. A post that ended
`unknown` (a send without an answer) is looked for on the platform here: found means
published; not found leaves it `unknown` under at_most_once, or schedules it again under
at_least_once. Kept out of the tick so an empty tick stays at three database commands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

from common import accounts, posts
from common.clock import require_aware
from common.config import Settings
from common.db import Doc
from common.platforms.base import Registry

log = logging.getLogger(__name__)


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
    """Look for up to `limit` unknown posts (oldest first) on their platform."""
    moment = require_aware(now, "now")
    checked = published = rescheduled = still = errors = 0
    candidates = posts.list_unknown(db, limit)
    known = accounts.load_many(db, (p.account_id for p in candidates))
    for post in candidates:
        checked += 1
        account = known.get(post.account_id)
        publisher = registry.get(post.platform)
        if account is None or publisher is None:
            errors += 1
            continue
        try:
            found = publisher.find_published(post, account)
        except Exception as exc:
            log.warning(
                "reconciliation lookup failed",
                extra={"postId": str(post.id), "error": type(exc).__name__},
            )
            errors += 1
            continue
        if found is not None:
            published += posts.mark_found_published(db, post, found.platform_post_id, moment)
        elif settings.reconcile_policy == "at_least_once":
            rescheduled += posts.retry(db, post.id, moment)
        else:
            still += 1
    return ReconcileReport(checked, published, rescheduled, still, errors)
