"""The `socialsched` command: operate the scheduler against the configured MongoDB.

Exit codes: 0 ok, 1 operational failure (database, platform), 2 usage error (bad arguments or
configuration). `--json` prints machine-readable output for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from common import lock, posts
from common.clock import TimeError, resolve, utcnow
from common.config import ConfigError, Settings, load_settings
from common.db import DatabaseUnavailableError, Doc, describe_failure, ensure_indexes, get_database
from common.engine import Trigger, execute_once
from common.platforms.registry import default_registry

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
Handler = Callable[[argparse.Namespace, Settings], int]


class UsageError(ValueError):
    """The command line asks for something impossible; exit code 2."""


class OperationalError(RuntimeError):
    """The command was valid but could not be carried out; exit code 1."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    return value


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(_jsonable(data), indent=2) if args.json else text)


# --- run / status / lock --------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    result = execute_once(settings, Trigger("cli", limit=args.limit), default_registry(settings))
    data = result.to_dict()
    if result.skipped:
        text = "skipped: another run holds the execution lock"
    else:
        text = (
            f"run {result.run_id}: {result.posts_processed} processed, "
            f"{result.posts_published} published, {result.posts_failed} failed, "
            f"{result.posts_deferred} deferred, {result.posts_unknown} unknown "
            f"in {result.duration:.2f}s"
        )
    _emit(args, data, text)
    return EXIT_OK


def _status_summary(settings: Settings) -> Doc:
    db = get_database(settings)
    state = lock.read_state(db)
    held = state.get("lock")
    return {
        "lastRunAt": state.get("lastRunAt"),
        "lastRunStatus": state.get("lastRunStatus"),
        "lastRunDuration": state.get("lastRunDuration"),
        "totalExecutions": state.get("totalExecutions", 0),
        "totalPostsPublished": state.get("totalPostsPublished", 0),
        "totalPostsFailed": state.get("totalPostsFailed", 0),
        "executionLock": {"held": bool(held), "expiresAt": (held or {}).get("expiresAt")},
        "nextScheduledPost": state.get("nextScheduledPost"),
        "queue": posts.count_by_status(db),
    }


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    summary = _status_summary(settings)
    lines = [f"{key}: {_jsonable(value)}" for key, value in summary.items()]
    _emit(args, summary, "\n".join(lines))
    return EXIT_OK


def cmd_lock_show(args: argparse.Namespace, settings: Settings) -> int:
    held = lock.read_state(get_database(settings)).get("lock")
    if not held:
        _emit(args, {"held": False}, "the execution lock is free")
        return EXIT_OK
    expired = held["expiresAt"] < utcnow()
    data = {
        "held": True,
        "holder": held.get("holder"),
        "acquiredAt": held.get("acquiredAt"),
        "expiresAt": held["expiresAt"],
        "expired": expired,
    }
    state = "expired" if expired else "live"
    _emit(
        args,
        data,
        f"held by run {data['holder']} since {_jsonable(data['acquiredAt'])}, "
        f"expires {_jsonable(data['expiresAt'])} ({state})",
    )
    return EXIT_OK


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_lock_release(args: argparse.Namespace, settings: Settings) -> int:
    """A stuck lock: refuses a live lock unless --force, and asks before acting."""
    if not args.yes and not _confirm("Release the execution lock?"):
        raise UsageError("not confirmed (answer y, or pass --yes)")
    released = lock.force_release(get_database(settings), utcnow(), only_if_expired=not args.force)
    if not released:
        raise OperationalError(
            "the lock is free, or held and not expired (a run may be in progress); "
            "use --force only if you are sure no run is alive"
        )
    _emit(args, {"released": True}, "execution lock released")
    return EXIT_OK


# --- posts ----------------------------------------------------------------------------------


def _post_id(raw: str) -> ObjectId:
    if not ObjectId.is_valid(raw):
        raise UsageError(f"{raw!r} is not a post id")
    return ObjectId(raw)


def _post_row(doc: Doc) -> str:
    due = _jsonable(doc.get("dueAt"))
    return f"{doc['_id']}  {doc['status']:<10}  {doc['platform']:<9}  {doc['accountId']:<16}  {due}"


def _instant(raw: str | None, tz: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return resolve(raw, tz or "UTC").instant
    except TimeError as exc:
        raise UsageError(str(exc)) from exc


def cmd_posts_list(args: argparse.Namespace, settings: Settings) -> int:
    start, end = _instant(args.since, args.tz), _instant(args.until, args.tz)
    rows = posts.list_posts(
        get_database(settings),
        status=args.status,
        account_id=args.account,
        since=start,
        until=end,
        limit=args.limit,
    )
    header = f"{'id':<24}  {'status':<10}  {'platform':<9}  {'account':<16}  due"
    _emit(args, rows, "\n".join([header, *(_post_row(r) for r in rows)]))
    return EXIT_OK


def cmd_posts_show(args: argparse.Namespace, settings: Settings) -> int:
    doc = posts.get_document(get_database(settings), _post_id(args.id))
    if doc is None:
        raise OperationalError(f"no post {args.id}")
    _emit(args, doc, json.dumps(_jsonable(doc), indent=2))
    return EXIT_OK


def _operator_action(action: Callable[..., bool], verb: str, refusal: str) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        if not action(get_database(settings), _post_id(args.id), utcnow()):
            raise OperationalError(f"post {args.id} not {verb}: {refusal}")
        _emit(args, {"id": args.id, verb: True}, f"post {args.id} {verb}")
        return EXIT_OK

    return handler


# --- wiring ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socialsched", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="one execution against the configured database")
    run.add_argument("--limit", type=int, help="publish at most this many posts")
    run.set_defaults(handler=cmd_run)
    sub.add_parser("status", help="the scheduler's state").set_defaults(handler=cmd_status)

    lock_cmd = sub.add_parser("lock", help="inspect or release the execution lock")
    lock_sub = lock_cmd.add_subparsers(dest="lock_command", required=True)
    lock_sub.add_parser("show").set_defaults(handler=cmd_lock_show)
    release = lock_sub.add_parser("release", help="release a stuck lock")
    release.add_argument("--force", action="store_true", help="release even if not expired")
    release.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    release.set_defaults(handler=cmd_lock_release)

    posts_cmd = sub.add_parser("posts", help="scheduled posts")
    posts_sub = posts_cmd.add_subparsers(dest="posts_command", required=True)
    listing = posts_sub.add_parser("list")
    listing.add_argument("--status", choices=posts.STATUSES)
    listing.add_argument("--account")
    listing.add_argument("--since", help="due at or after (ISO-8601)")
    listing.add_argument("--until", help="due before (ISO-8601)")
    listing.add_argument("--tz", help="IANA zone for --since/--until without an offset")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=cmd_posts_list)
    for name, handler in (
        ("show", cmd_posts_show),
        (
            "cancel",
            _operator_action(
                posts.cancel, "canceled", "it is published, canceled, or its send has begun"
            ),
        ),
        (
            "retry",
            _operator_action(posts.retry, "rescheduled", "only failed or unknown posts retry"),
        ),
    ):
        cmd = posts_sub.add_parser(name)
        cmd.add_argument("id")
        cmd.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        ensure_indexes(get_database(settings))
        code: int = args.handler(args, settings)
    except (ConfigError, UsageError) as exc:
        print(f"socialsched: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseUnavailableError as exc:
        print(f"socialsched: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except PyMongoError as exc:
        print(f"socialsched: {describe_failure(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except OperationalError as exc:
        print(f"socialsched: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return code


if __name__ == "__main__":
    sys.exit(main())
