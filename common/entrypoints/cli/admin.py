"""`socialsched run`, `status` and `lock ...`: the scheduler itself."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from common.entrypoints.cli.backend import Backend, OperationalError, UsageError
from common.entrypoints.cli.output import EXIT_OK, command_group, emit, positive, when
from common.entrypoints.status_page import plain_state


def cmd_run(args: argparse.Namespace, backend: Backend) -> int:
    result = backend.run(args.limit)
    if result["skipped"]:
        text = "skipped: another run holds the execution lock"
    else:
        text = (
            f"run {result['runId']}: {result['postsProcessed']} processed, "
            f"{result['postsPublished']} published, {result['postsFailed']} failed, "
            f"{result['postsDeferred']} deferred, {result['postsUnknown']} unknown "
            f"in {result['duration']:.2f}s"
        )
    emit(args, result, text)
    return EXIT_OK


def cmd_status(args: argparse.Namespace, backend: Backend) -> int:
    """The status function's report (the same code, or its URL in remote mode)."""
    report = backend.status()
    scheduler, queue, health = report["scheduler"], report["queue"], report["health"]
    next_post = scheduler["nextScheduledPost"]
    lines = [
        "; ".join(plain_state(report)),
        f"last run: {when(scheduler['lastRunAt'])} ({scheduler['lastRunStatus']}), "
        f"{scheduler['totalExecutions']} runs, {scheduler['totalPostsPublished']} published, "
        f"{scheduler['totalPostsFailed']} failed",
        f"queue: {queue['due']} due, {queue['scheduled']} scheduled, {queue['failed']} failed, "
        f"{queue['unknown']} unknown; lag {health['lagSeconds']} s",
        f"execution lock: {'held' if scheduler['executionLock']['held'] else 'free'}",
        f"next post: {next_post['platform']} at {when(next_post['scheduledAt'])}"
        if next_post
        else "next post: none",
    ]
    emit(args, report, "\n".join(lines))
    return EXIT_OK


def cmd_lock_show(args: argparse.Namespace, backend: Backend) -> int:
    data = backend.lock_state()
    if not data["held"]:
        emit(args, data, "the execution lock is free")
        return EXIT_OK
    state = "expired" if data["expired"] else "live"
    emit(
        args,
        data,
        f"held by run {data['holder']} since {when(data['acquiredAt'])}, "
        f"expires {when(data['expiresAt'])} ({state})",
    )
    return EXIT_OK


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_lock_release(args: argparse.Namespace, backend: Backend) -> int:
    """A stuck lock: refuses a live lock unless --force, and asks before acting."""
    if not args.yes and not _confirm("Release the execution lock?"):
        raise UsageError("not confirmed (answer y, or pass --yes)")
    released = backend.release_lock(args.force)
    if not released["released"]:
        raise OperationalError(
            "the lock is free, or held and not expired (a run may be in progress); "
            "use --force only if you are sure no run is alive"
        )
    emit(args, released, "execution lock released")
    return EXIT_OK


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="one execution against the configured database")
    run.add_argument("--limit", type=positive, help="publish at most this many posts")
    run.set_defaults(handler=cmd_run)
    sub.add_parser("status", help="the scheduler's state").set_defaults(handler=cmd_status)
    lock_sub = command_group(sub, "lock", "inspect or release the execution lock")
    lock_sub.add_parser("show", help="who holds the lock, and until when").set_defaults(
        handler=cmd_lock_show
    )
    release = lock_sub.add_parser("release", help="release a stuck lock")
    release.add_argument("--force", action="store_true", help="release even if not expired")
    release.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    release.set_defaults(handler=cmd_lock_release)
