"""The public status report: what the scheduler is doing, in figures a pager can watch.

Three database round trips at most: the scheduler_state document, one aggregation over posts
(queue counts, lag, next post, on-time rate, hourly history) and one over accounts. The whole
read is bounded by STATUS_DB_BUDGET_SECONDS so an unreachable database answers 503 quickly. The
report never contains post text, tokens, account names or the database URI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pymongo
from pymongo.database import Database
from pymongo.errors import PyMongoError

from common import __version__, lock, posts
from common.accounts import PLATFORMS
from common.config import Settings
from common.db import ACCOUNTS, POSTS, DatabaseUnavailableError, Doc, describe_failure

STATUS_DB_BUDGET_SECONDS = 3.0
ON_TIME_SECONDS = 120
ON_TIME_WINDOW = timedelta(days=1)
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
    next_post: posts.NextPost | None


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
                name: {"connected": p.connected, "needsReauth": p.needs_reauth}
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


def report(settings: Settings, db: Database[Doc], now: datetime) -> StatusReport:
    """The full report; raises DatabaseUnavailableError when MongoDB does not answer in time."""
    try:
        # The whole report, server selection included, fits in one budget.
        with pymongo.timeout(min(STATUS_DB_BUDGET_SECONDS, settings.mongo_timeout_ms / 1000)):
            state = lock.read_state(db)
            queue = _post_figures(db, now)
            platforms = _platform_figures(db)
    except PyMongoError as exc:
        raise DatabaseUnavailableError(describe_failure(exc)) from exc
    return _assemble(settings, now, state, queue, platforms)


def unavailable_report(settings: Settings) -> StatusReport:
    """The same shape with the database unreachable: nothing is known beyond that."""
    return _assemble(settings, None, {}, None, None)


_ON_TIME: Doc = {
    "$cond": [
        {
            "$and": [
                {"$eq": ["$status", "published"]},
                {"$lte": [{"$subtract": ["$publishedAt", "$scheduledAt"]}, ON_TIME_SECONDS * 1000]},
            ]
        },
        1,
        0,
    ]
}


HISTORY_HOURS = 24
_HOUR_MS = 3600 * 1000


def _hourly_stage(now: datetime) -> list[Doc]:
    """Posts published and failed in each of the last 24 hours (0 = the last sixty minutes)."""
    since = now - timedelta(hours=HISTORY_HOURS)
    finished_at = {"$cond": [{"$eq": ["$status", "published"]}, "$publishedAt", "$updatedAt"]}
    hours_ago = {"$floor": {"$divide": [{"$subtract": [now, finished_at]}, _HOUR_MS]}}
    return [
        {
            "$match": {
                "$or": [
                    {"status": "published", "publishedAt": {"$gte": since, "$lte": now}},
                    {"status": "failed", "updatedAt": {"$gte": since, "$lte": now}},
                ]
            }
        },
        {"$project": {"status": 1, "hoursAgo": hours_ago}},
        {"$group": {"_id": {"status": "$status", "hoursAgo": "$hoursAgo"}, "n": {"$sum": 1}}},
    ]


def _history(rows: list[Doc]) -> History:
    """Oldest hour first, so the series reads left to right like a chart."""
    series = {"published": [0] * HISTORY_HOURS, "failed": [0] * HISTORY_HOURS}
    for row in rows:
        status, hours_ago = row["_id"].get("status"), int(row["_id"].get("hoursAgo", -1))
        if status in series and 0 <= hours_ago < HISTORY_HOURS:
            series[status][HISTORY_HOURS - 1 - hours_ago] += int(row["n"])
    return History(tuple(series["published"]), tuple(series["failed"]))


def _post_figures(db: Database[Doc], now: datetime) -> Doc:
    open_statuses = ["scheduled", "publishing"]
    pipeline: list[Doc] = [
        {
            "$facet": {
                "counts": [
                    {"$match": {"status": {"$in": ["scheduled", "failed", "unknown"]}}},
                    {"$group": {"_id": "$status", "n": {"$sum": 1}}},
                ],
                "due": [
                    {"$match": {"status": {"$in": open_statuses}, "dueAt": {"$lte": now}}},
                    {
                        "$group": {
                            "_id": None,
                            "due": {"$sum": {"$cond": [{"$eq": ["$status", "scheduled"]}, 1, 0]}},
                            "oldest": {"$min": "$dueAt"},
                        }
                    },
                ],
                "next": posts.next_post_stages(now),
                "hourly": _hourly_stage(now),
                "onTime": [
                    {
                        "$match": {
                            "scheduledAt": {
                                "$gte": now - ON_TIME_WINDOW,
                                "$lte": now - timedelta(seconds=ON_TIME_SECONDS),
                            },
                            "status": {"$ne": "canceled"},
                        }
                    },
                    {"$group": {"_id": None, "total": {"$sum": 1}, "onTime": {"$sum": _ON_TIME}}},
                ],
            }
        }
    ]
    return next(iter(db[POSTS].aggregate(pipeline)), {})


def _platform_figures(db: Database[Doc]) -> dict[str, PlatformFigures]:
    counts = {p: {"active": 0, "needs_reauth": 0} for p in PLATFORMS}
    pipeline: list[Doc] = [
        {"$group": {"_id": {"platform": "$platform", "status": "$status"}, "n": {"$sum": 1}}}
    ]
    for row in db[ACCOUNTS].aggregate(pipeline):
        platform, status = row["_id"].get("platform"), row["_id"].get("status")
        if platform in counts and status in counts[platform]:
            counts[platform][status] += int(row["n"])
    return {p: PlatformFigures(c["active"], c["needs_reauth"]) for p, c in counts.items()}


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else round(max(0.0, (later - earlier).total_seconds()), 1)


def _assemble(
    settings: Settings,
    now: datetime | None,
    state: Doc,
    queue: Doc | None,
    platforms: dict[str, PlatformFigures] | None,
) -> StatusReport:
    available = now is not None
    figures = queue or {}
    due = (figures.get("due") or [{}])[0]
    last_run_age = _seconds(now, state.get("lastRunAt")) if now is not None else None
    connected = platforms or {p: PlatformFigures() for p in PLATFORMS}
    meta_connected = any(p.connected > 0 for p in connected.values())
    runs_happening = (
        last_run_age is not None
        and last_run_age <= MISSED_TICKS_BEFORE_DOWN * settings.tick_interval_seconds
    )
    return StatusReport(
        version=__version__,
        operational=available and meta_connected and runs_happening,
        database_available=available,
        meta_connected=meta_connected,
        platforms=connected,
        scheduler=_scheduler(state, figures, now),
        queue=_queue(figures, due),
        health=HealthFigures(
            # Age of the oldest due post not yet published: 0 when nothing waits.
            lag_seconds=(_seconds(now, due.get("oldest")) or 0.0) if now is not None else None,
            last_run_age_seconds=last_run_age,
            on_time_rate_24h=_on_time_rate((figures.get("onTime") or [{}])[0]),
        ),
        history_24h=_history(figures.get("hourly", [])),
        checked_at=now,
    )


def _scheduler(state: Doc, figures: Doc, now: datetime | None) -> SchedulerFigures:
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
        next_post=posts.next_post_from(figures.get("next") or []),
    )


def _queue(figures: Doc, due: Doc) -> QueueFigures:
    counts = {row["_id"]: int(row["n"]) for row in figures.get("counts", [])}
    return QueueFigures(
        due=int(due.get("due", 0)),
        scheduled=counts.get("scheduled", 0),
        failed=counts.get("failed", 0),
        unknown=counts.get("unknown", 0),
    )


def _on_time_rate(on_time: Doc) -> float | None:
    return round(on_time["onTime"] / on_time["total"], 4) if on_time.get("total") else None
