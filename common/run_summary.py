"""One run's results: the one value behind the run record, the log line, the event and the answer.

Two views, each a contract: `to_record()` is the "run finished" log line that the Terraform
alerts filter on (jsonPayload.status, .failed, .unknown, .trigger) and the entry kept in the
run history; `to_response()` is what run_http and `socialsched run --json` answer
(docs/openapi.yaml, RunResult).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

TriggerKind = Literal["tick", "manual", "cli"]
RunStatus = Literal["ok", "error"]


@dataclass(frozen=True)
class RunCounts:
    processed: int = 0
    published: int = 0
    failed: int = 0
    deferred: int = 0
    unknown: int = 0
    withdrawn: int = 0
    lease_lost: int = 0


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    trigger: TriggerKind
    message_id: str | None = None
    status: RunStatus = "ok"
    error: str | None = None  # why the run failed (no internals: an exception's type name)
    finished_at: datetime | None = None
    duration: float = 0.0
    counts: RunCounts = RunCounts()
    next_scheduled_post: dict[str, Any] | None = None
    # Runs that did not publish: another runner holds the lock, the tick ran already, the tick
    # is too old, or a dry run (with the number of posts a real run would take).
    skipped: bool = False
    duplicate: bool = False
    stale: bool = False
    lock_lost: bool = False
    dry_run: bool = False
    posts_due: int = 0

    def to_record(self) -> dict[str, Any]:
        c = self.counts
        return {
            "runId": self.run_id,
            "trigger": self.trigger,
            "messageId": self.message_id,
            "finishedAt": self.finished_at,
            "duration": round(self.duration, 3),
            "status": self.status,
            "processed": c.processed,
            "published": c.published,
            "failed": c.failed,
            "deferred": c.deferred,
            "unknown": c.unknown,
            "withdrawn": c.withdrawn,
            "leaseLost": c.lease_lost,
        }

    def to_response(self) -> dict[str, Any]:
        c = self.counts
        return {
            "runId": self.run_id,
            "skipped": self.skipped,
            "duplicate": self.duplicate,
            "stale": self.stale,
            "postsProcessed": c.processed,
            "postsPublished": c.published,
            "postsFailed": c.failed,
            "postsDeferred": c.deferred,
            "postsUnknown": c.unknown,
            "duration": round(self.duration, 3),
            "nextScheduledPost": self.next_scheduled_post,
            "lockLost": self.lock_lost,
            "dryRun": self.dry_run,
            "postsDue": self.posts_due,
        }

    def to_event(self) -> dict[str, Any]:
        """The run.completed event: the answer's counts, with the trigger and the status."""
        response = self.to_response()
        counts = {k: v for k, v in response.items() if k.startswith("posts") or k == "duration"}
        return {"runId": self.run_id, "trigger": self.trigger, "status": self.status, **counts}
