"""The public status report: what the scheduler is doing, in figures a pager can watch.

One database command (lock.read_state_with): the scheduler_state document, with four reads
joined to it as uncorrelated $lookups, each led by an index and bounded, so its cost never
grows with the posts ever stored: two windows over capped index ranges of the open and the
attention statuses (queue counts, due, lag, the next post: posts.figures); the hourly figures
kept by the outcome writes (at most 24 documents: history and on-time rate); the counted
accounts. Before the first run (no state document) the four reads are commands of their own.
The whole read is bounded by STATUS_DB_BUDGET_SECONDS so an unreachable database answers 503
quickly. The report never contains post text, tokens, account names or the database URI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pymongo
from pymongo.database import Database
from pymongo.errors import PyMongoError

from common import __version__, lock, stats
from common.config import Settings
from common.db import (
    ACCOUNTS,
    HOURLY_STATS,
    POSTS,
    DatabaseUnavailableError,
    Doc,
    describe_failure,
)
from common.model import PLATFORMS

if TYPE_CHECKING:
    from common.posts.figures import QueueCounts
    from common.posts.queue import NextPost

STATUS_DB_BUDGET_SECONDS = 3.0
HISTORY_HOURS = stats.HISTORY_HOURS
MISSED_TICKS_BEFORE_DOWN = 3
ENDPOINTS = {
    "status": {"methods": ["GET", "HEAD"], "auth": "none"},
    "run": {"methods": ["POST"], "auth": "Bearer JWT with an admin role, or the admin key"},
    "tick": {"trigger": "Pub/Sub messagePublished (Eventarc)", "auth": "IAM (invoker role)"},
}


@dataclass(frozen=True)
class PlatformFigures:
    connected: int = 0
    needs_reauth: int = 0
    # Which ones, by the scheduler's own account id (what `socialsched accounts` takes): only in
    # reports for signed-in readers (the CLI on the database, the web app). The public status
    # endpoint names no account (README "Status page"). At most REAUTH_IDS_SHOWN per report.
    reauth_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SchedulerFigures:
    last_run_at: datetime | None
    last_run_duration: float | None
    last_run_status: str | None
    total_executions: int
    total_posts_published: int
    total_posts_failed: int
    lock_held: bool
    lock_expires_at: datetime | None
    next_post: NextPost | None


@dataclass(frozen=True)
class QueueFigures:
    due: int
    scheduled: int
    failed: int
    unknown: int


@dataclass(frozen=True)
class HealthFigures:
    lag_seconds: float | None
    last_run_age_seconds: float | None
    on_time_rate_24h: float | None


@dataclass(frozen=True)
class History:
    """Posts per hour over the last 24 hours, oldest hour first."""

    published: tuple[int, ...]
    failed: tuple[int, ...]


@dataclass(frozen=True)
class StatusReport:
    """The one status report: the JSON of the status function, its page and `socialsched
    status` are all rendered from it. `checked_at` is None when the database did not answer."""

    version: str
    operational: bool
    database_available: bool
    meta_connected: bool
    platforms: Mapping[str, PlatformFigures]
    scheduler: SchedulerFigures
    queue: QueueFigures
    health: HealthFigures
    history_24h: History
    checked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON schema of the status endpoint; instants stay datetimes for jsonfmt."""
        scheduler, next_post = self.scheduler, self.scheduler.next_post
        return {
            "serverless": True,
            "version": self.version,
            "operational": self.operational,
            "databaseAvailable": self.database_available,
            "metaConnected": self.meta_connected,
            "platforms": {
                name: {
                    "connected": p.connected,
                    "needsReauth": p.needs_reauth,
                    **({"reauthAccounts": list(p.reauth_ids)} if p.reauth_ids else {}),
                }
                for name, p in self.platforms.items()
            },
            "scheduler": {
                "lastRunAt": scheduler.last_run_at,
                "lastRunDuration": scheduler.last_run_duration,
                "lastRunStatus": scheduler.last_run_status,
                "totalExecutions": scheduler.total_executions,
                "totalPostsPublished": scheduler.total_posts_published,
                "totalPostsFailed": scheduler.total_posts_failed,
                "executionLock": {
                    "held": scheduler.lock_held,
                    "expiresAt": scheduler.lock_expires_at,
                },
                "nextScheduledPost": (
                    None
                    if next_post is None
                    else {"platform": next_post.platform, "scheduledAt": next_post.due_at}
                ),
            },
            "queue": {
                "due": self.queue.due,
                "scheduled": self.queue.scheduled,
                "failed": self.queue.failed,
                "unknown": self.queue.unknown,
            },
            "health": {
                "lagSeconds": self.health.lag_seconds,
                "lastRunAgeSeconds": self.health.last_run_age_seconds,
                "onTimeRate24h": self.health.on_time_rate_24h,
            },
            "history24h": {
                "published": list(self.history_24h.published),
                "failed": list(self.history_24h.failed),
            },
            "endpoints": ENDPOINTS,
            "checkedAt": self.checked_at,
        }


def report(
    settings: Settings, db: Database[Doc], now: datetime, *, name_accounts: bool = False
) -> StatusReport:
    """The full report; raises DatabaseUnavailableError when MongoDB does not answer in time.

    `name_accounts`: list the ids of accounts that need re-authentication (signed-in readers
    only; the public status endpoint leaves it off)."""
    try:
        # The whole report, server selection included, fits in one budget.
        with pymongo.timeout(min(STATUS_DB_BUDGET_SECONDS, settings.mongo_timeout_ms / 1000)):
            state, queue, platforms = _read(db, now, name_accounts)
    except PyMongoError as exc:
        raise DatabaseUnavailableError(describe_failure(exc)) from exc
    return _assemble(settings, now, state, queue, platforms)


def unavailable_report(settings: Settings) -> StatusReport:
    """The same shape with the database unreachable: nothing is known beyond that."""
    return _assemble(settings, None, {}, None, None)


@dataclass(frozen=True)
class _PostFigures:
    queue: QueueCounts
    last_day: stats.LastDay


_ACCOUNT_STATES = ("active", "needs_reauth")
# Led by the platform_status index, so the group reads index keys of counted accounts only.
_ACCOUNT_COUNTS: list[Doc] = [
    {"$match": {"platform": {"$in": list(PLATFORMS)}, "status": {"$in": list(_ACCOUNT_STATES)}}},
    {"$group": {"_id": {"platform": "$platform", "status": "$status"}, "n": {"$sum": 1}}},
]


def _read(
    db: Database[Doc], now: datetime, name_accounts: bool
) -> tuple[Doc, _PostFigures, dict[str, PlatformFigures]]:
    """One command (lock.read_state_with); another only in the cases counts_of and
    _platform_figures name."""
    # Loaded at the first report, not while the function starts (status_import_ratio).
    from common.posts import figures  # noqa: PLC0415

    state, rows = lock.read_state_with(
        db,
        {
            "open": (POSTS, figures.open_window(now)),
            "attention": (POSTS, figures.attention_window()),
            "hours": (HOURLY_STATS, stats.hours_read(now)),
            "accounts": (ACCOUNTS, _ACCOUNT_COUNTS),
        },
    )
    queue = figures.counts_of(db, now, rows["open"], rows["attention"])
    last_day = stats.last_day_of(rows["hours"], now)
    return (
        state,
        _PostFigures(queue, last_day),
        _platform_figures(db, rows["accounts"], name_accounts),
    )


def _platform_figures(
    db: Database[Doc], rows: list[Doc], name_accounts: bool
) -> dict[str, PlatformFigures]:
    counts = {p: {"active": 0, "needs_reauth": 0} for p in PLATFORMS}
    for row in rows:
        platform, status = row["_id"].get("platform"), row["_id"].get("status")
        if platform in counts and status in counts[platform]:
            counts[platform][status] += int(row["n"])
    some = any(c["needs_reauth"] for c in counts.values())
    ids = _reauth_ids(db) if name_accounts and some else {}
    return {
        p: PlatformFigures(c["active"], c["needs_reauth"], tuple(ids.get(p, ())))
        for p, c in counts.items()
    }


REAUTH_IDS_SHOWN = 20


def _reauth_ids(db: Database[Doc]) -> dict[str, list[str]]:
    """The ids of accounts that need re-authentication, by platform (read only when some do)."""
    found: dict[str, list[str]] = {}
    cursor = db[ACCOUNTS].find(
        {"platform": {"$in": list(PLATFORMS)}, "status": "needs_reauth"},
        {"_id": 1, "platform": 1},
        sort=[("platform", 1), ("status", 1), ("_id", 1)],
        limit=REAUTH_IDS_SHOWN,
    )
    for doc in cursor:
        found.setdefault(str(doc["platform"]), []).append(str(doc["_id"]))
    return found


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else round(max(0.0, (later - earlier).total_seconds()), 1)


def _assemble(
    settings: Settings,
    now: datetime | None,
    state: Doc,
    figures: _PostFigures | None,
    platforms: dict[str, PlatformFigures] | None,
) -> StatusReport:
    available = now is not None
    last_run_age = _seconds(now, state.get("lastRunAt")) if now is not None else None
    connected = platforms or {p: PlatformFigures() for p in PLATFORMS}
    meta_connected = any(p.connected > 0 for p in connected.values())
    runs_happening = (
        last_run_age is not None
        and last_run_age <= MISSED_TICKS_BEFORE_DOWN * settings.tick_interval_seconds
    )
    last_day = figures.last_day if figures is not None else _NOTHING_FINISHED
    return StatusReport(
        version=__version__,
        operational=available and meta_connected and runs_happening,
        database_available=available,
        meta_connected=meta_connected,
        platforms=connected,
        scheduler=_scheduler(state, figures, now),
        queue=_queue(figures),
        health=HealthFigures(
            # Age of the oldest due post not yet published: 0 when nothing waits.
            lag_seconds=(
                (_seconds(now, figures.queue.oldest_due) or 0.0)
                if now is not None and figures is not None
                else None
            ),
            last_run_age_seconds=last_run_age,
            on_time_rate_24h=last_day.on_time_rate,
        ),
        history_24h=History(last_day.published, last_day.failed),
        checked_at=now,
    )


_NOTHING_FINISHED = stats.LastDay((0,) * HISTORY_HOURS, (0,) * HISTORY_HOURS, 0)


def _scheduler(state: Doc, figures: _PostFigures | None, now: datetime | None) -> SchedulerFigures:
    lock_expires = (state.get("lock") or {}).get("expiresAt")
    return SchedulerFigures(
        last_run_at=state.get("lastRunAt"),
        last_run_duration=state.get("lastRunDuration"),
        last_run_status=state.get("lastRunStatus"),
        total_executions=int(state.get("totalExecutions", 0)),
        total_posts_published=int(state.get("totalPostsPublished", 0)),
        total_posts_failed=int(state.get("totalPostsFailed", 0)),
        lock_held=now is not None and lock_expires is not None and lock_expires > now,
        lock_expires_at=lock_expires,
        next_post=figures.queue.next_post if figures is not None else None,
    )


def _queue(figures: _PostFigures | None) -> QueueFigures:
    if figures is None:
        return QueueFigures(due=0, scheduled=0, failed=0, unknown=0)
    counts = figures.queue
    return QueueFigures(
        due=counts.due, scheduled=counts.scheduled, failed=counts.failed, unknown=counts.unknown
    )
