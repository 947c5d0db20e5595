"""The answers of the run_http and status functions (they write them; the OpenAPI document
declares them beside the api's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from common.schema import shape, spec

MAX_RUN_LIMIT = 10_000


@shape
class RunRequest:
    dry_run: bool = spec(default=False, description="Report what is due without taking the lock.")
    limit: int | None = spec(
        default=None,
        nullable=False,
        minimum=1,
        maximum=MAX_RUN_LIMIT,
        description="The most posts this run takes.",
    )


@shape
class NextPost:
    platform: str | None
    scheduled_at: datetime


@shape
class RunResult:
    run_id: str
    skipped: bool
    duplicate: bool
    stale: bool
    posts_processed: int = spec(minimum=0)
    posts_published: int = spec(minimum=0)
    posts_failed: int = spec(minimum=0)
    posts_deferred: int = spec(minimum=0)
    posts_unknown: int = spec(minimum=0)
    duration: float = spec(minimum=0)
    next_scheduled_post: NextPost | None
    lock_lost: bool
    dry_run: bool
    posts_due: int = spec(minimum=0)


@shape
class RunResponse:
    CLOSED: ClassVar[bool] = False
    success: Literal[True]
    result: RunResult


@shape
class PlatformFigures:
    connected: int = spec(minimum=0)
    needs_reauth: int = spec(minimum=0)
    reauth_accounts: tuple[str, ...] = spec(
        default=(),
        maxItems=20,
        description="Ids of the accounts that need re-authentication: only in reports for "
        "signed-in readers; the public status endpoint never names an account.",
    )


@shape
class PlatformsFigures:
    facebook: PlatformFigures
    instagram: PlatformFigures
    threads: PlatformFigures
    bluesky: PlatformFigures
    mastodon: PlatformFigures


@shape
class ExecutionLock:
    held: bool
    expires_at: datetime | None


@shape
class SchedulerFigures:
    last_run_at: datetime | None
    last_run_duration: float | None
    last_run_status: str | None
    total_executions: int = spec(minimum=0)
    total_posts_published: int = spec(minimum=0)
    total_posts_failed: int = spec(minimum=0)
    execution_lock: ExecutionLock
    next_scheduled_post: NextPost | None


@shape
class QueueFigures:
    due: int = spec(minimum=0)
    scheduled: int = spec(minimum=0)
    failed: int = spec(minimum=0)
    unknown: int = spec(minimum=0)


@shape
class HealthFigures:
    lag_seconds: float | None = spec(
        description="Age of the oldest due post not yet published (0 when none waits)."
    )
    last_run_age_seconds: float | None
    on_time_rate_24h: float | None = spec(
        minimum=0,
        maximum=1,
        description="Of the posts finished (published or failed) in the last 24 clock hours, "
        "the share published within two minutes of their scheduled time.",
    )


@shape
class History:
    """Posts published and failed per clock hour (UTC) over the last 24 hours, oldest first
    (the last entry is the current hour)."""

    published: tuple[int, ...] = spec(minItems=24, maxItems=24)
    failed: tuple[int, ...] = spec(minItems=24, maxItems=24)


@shape
class Status:
    CLOSED: ClassVar[bool] = False
    serverless: Literal[True]
    version: str
    operational: bool = spec(
        description="Database reachable, a platform connected and a run within three tick "
        "intervals."
    )
    database_available: bool
    meta_connected: bool = spec(
        description="At least one active account on any network (the name is kept from the "
        "design this replaces)."
    )
    platforms: PlatformsFigures
    scheduler: SchedulerFigures
    queue: QueueFigures
    health: HealthFigures
    history_24h: History
    endpoints: dict[str, Any]
    checked_at: datetime | None
