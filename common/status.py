"""The public status report: what the scheduler is doing, in figures a pager can watch.

Three database round trips at most: the scheduler_state document, one aggregation over posts
(queue counts, lag, next post, on-time rate, hourly history) and one over accounts. The whole
read is bounded by STATUS_DB_BUDGET_SECONDS so an unreachable database answers 503 quickly. The
report never contains post text, tokens, account names or the database URI.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pymongo
from pymongo.database import Database
from pymongo.errors import PyMongoError

from common import __version__, lock
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


def report(settings: Settings, db: Database[Doc], now: datetime) -> dict[str, Any]:
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


def unavailable_report(settings: Settings) -> dict[str, Any]:
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


def _history(rows: list[Doc]) -> dict[str, list[int]]:
    """Oldest hour first, so the series reads left to right like a chart."""
    series = {"published": [0] * HISTORY_HOURS, "failed": [0] * HISTORY_HOURS}
    for row in rows:
        status, hours_ago = row["_id"].get("status"), int(row["_id"].get("hoursAgo", -1))
        if status in series and 0 <= hours_ago < HISTORY_HOURS:
            series[status][HISTORY_HOURS - 1 - hours_ago] += int(row["n"])
    return series


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
                "next": [
                    {"$match": {"status": "scheduled", "dueAt": {"$gt": now}}},
                    {"$sort": {"dueAt": 1}},
                    {"$limit": 1},
                    {"$project": {"_id": 0, "platform": 1, "dueAt": 1}},
                ],
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


def _platform_figures(db: Database[Doc]) -> dict[str, dict[str, int]]:
    figures = {p: {"connected": 0, "needsReauth": 0} for p in PLATFORMS}
    pipeline: list[Doc] = [
        {"$group": {"_id": {"platform": "$platform", "status": "$status"}, "n": {"$sum": 1}}}
    ]
    for row in db[ACCOUNTS].aggregate(pipeline):
        platform, status = row["_id"].get("platform"), row["_id"].get("status")
        if platform not in figures:
            continue
        if status == "active":
            figures[platform]["connected"] += int(row["n"])
        elif status == "needs_reauth":
            figures[platform]["needsReauth"] += int(row["n"])
    return figures


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else round(max(0.0, (later - earlier).total_seconds()), 1)


def _assemble(
    settings: Settings,
    now: datetime | None,
    state: Doc,
    queue: Doc | None,
    platforms: dict[str, dict[str, int]] | None,
) -> dict[str, Any]:
    available = now is not None
    figures = queue or {}
    counts = {row["_id"]: int(row["n"]) for row in figures.get("counts", [])}
    due = (figures.get("due") or [{}])[0]
    on_time = (figures.get("onTime") or [{}])[0]
    upcoming = (figures.get("next") or [None])[0]
    last_run_at = state.get("lastRunAt")
    last_run_age = _seconds(now, last_run_at) if now is not None else None
    connected = platforms or {p: {"connected": 0, "needsReauth": 0} for p in PLATFORMS}
    meta_connected = any(p["connected"] > 0 for p in connected.values())
    runs_happening = (
        last_run_age is not None
        and last_run_age <= MISSED_TICKS_BEFORE_DOWN * settings.tick_interval_seconds
    )
    lock_doc = state.get("lock") or {}
    lock_expires = lock_doc.get("expiresAt")
    return {
        "serverless": True,
        "version": __version__,
        "operational": available and meta_connected and runs_happening,
        "databaseAvailable": available,
        "metaConnected": meta_connected,
        "platforms": connected,
        "scheduler": {
            "lastRunAt": last_run_at,
            "lastRunDuration": state.get("lastRunDuration"),
            "lastRunStatus": state.get("lastRunStatus"),
            "totalExecutions": int(state.get("totalExecutions", 0)),
            "totalPostsPublished": int(state.get("totalPostsPublished", 0)),
            "totalPostsFailed": int(state.get("totalPostsFailed", 0)),
            "executionLock": {
                "held": now is not None and lock_expires is not None and lock_expires > now,
                "expiresAt": lock_expires,
            },
            "nextScheduledPost": (
                None
                if upcoming is None
                else {"platform": upcoming.get("platform"), "scheduledAt": upcoming.get("dueAt")}
            ),
        },
        "queue": {
            "due": int(due.get("due", 0)),
            "scheduled": counts.get("scheduled", 0),
            "failed": counts.get("failed", 0),
            "unknown": counts.get("unknown", 0),
        },
        "health": {
            # Age of the oldest due post not yet published: 0 when nothing waits.
            "lagSeconds": (_seconds(now, due.get("oldest")) or 0.0) if now is not None else None,
            "lastRunAgeSeconds": last_run_age,
            "onTimeRate24h": (
                round(on_time["onTime"] / on_time["total"], 4) if on_time.get("total") else None
            ),
        },
        "history24h": _history(figures.get("hourly", [])),
        "endpoints": ENDPOINTS,
        "checkedAt": now,
    }
