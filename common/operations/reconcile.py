"""Looking again: posts whose outcome is unknown are looked for on their network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bson import ObjectId
from pymongo.database import Database

from common import accounts
from common.config import Settings
from common.db import Doc
from common.model import Account, Post
from common.platforms.base import Registry
from common.posts import actions, reconcile, store
from common.publishing import look
from common.transitions.policy import MarkPublished, MarkUnknown, Rules, decide


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
    at_least_once (the policy's answer, policy.decide after a look). Kept out of the tick
    so an empty tick stays at three database commands; a run looks for its own lease-expired
    posts with the same `look` and the same policy.
    """
    candidates = reconcile.list_unknown(db, limit)
    known = accounts.load_many(db, (p.account_id for p in candidates))
    found = [
        _look_and_settle(db, settings, registry, p, known.get(p.account_id), now)
        for p in candidates
    ]
    return ReconcileReport(
        len(candidates),
        found.count("published"),
        found.count("rescheduled"),
        found.count("still_unknown"),
        found.count("error"),
    )


LookResult = Literal["published", "rescheduled", "still_unknown", "error", "not_unknown"]


def look_again(
    db: Database[Doc], settings: Settings, registry: Registry, post_id: ObjectId, now: datetime
) -> LookResult:
    """One unknown post looked for on its network (the web app's "look again"), settled as
    reconcile_unknown settles each; a post that is not unknown (any more) is left alone."""
    post = store.get(db, post_id)
    if post is None or post.status != "unknown":
        return "not_unknown"
    account = accounts.get(db, post.account_id)
    return _look_and_settle(db, settings, registry, post, account, now)


def _look_and_settle(
    db: Database[Doc],
    settings: Settings,
    registry: Registry,
    post: Post,
    account: Account | None,
    now: datetime,
) -> LookResult:
    """Look, then do what the one policy decides after a look (policy.decide)."""
    looked = look(registry.get(post.platform), post, account)
    step = decide(looked, post, account, Rules.from_settings(settings), now).step
    if isinstance(step, MarkPublished):
        marked = reconcile.mark_found_published(db, post, step.platform_post_id, now, step.refs)
        return "published" if marked else "not_unknown"
    if isinstance(step, MarkUnknown):  # not found (at_most_once), or the look itself failed
        return "error" if looked.failed is not None else "still_unknown"
    # The policy would send it again (at_least_once): back to the queue, where a run decides
    # as for any due post (send, hold it for its account, or let it expire).
    return "rescheduled" if actions.retry(db, post.id, now) else "not_unknown"
