"""The `socialsched` command: operate the scheduler against the configured MongoDB.

Exit codes: 0 ok, 1 operational failure (database, platform), 2 usage error (bad arguments or
configuration). `--json` prints machine-readable output for scripts.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import PyMongoError

from common import accounts, jsonfmt, lock, model, operations, posts, status
from common.clock import TimeError, resolve, utcnow
from common.config import ConfigError, Settings, load_settings
from common.db import DatabaseUnavailableError, Doc, describe_failure, ensure_indexes, get_database
from common.engine import Trigger, execute_once
from common.entrypoints import local_stack, status_page
from common.platforms.registry import default_registry
from common.tokens import TokenCipher, TokenKeyError
from common.validation import Problem

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
Handler = Callable[[argparse.Namespace, Settings], int]


class UsageError(ValueError):
    """The command line asks for something impossible; exit code 2."""


class OperationalError(RuntimeError):
    """The command was valid but could not be carried out; exit code 1."""


def _when(value: datetime | None) -> str | None:
    return None if value is None else jsonfmt.to_rfc3339(value)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(jsonfmt.dumps(data, indent=2) if args.json else text)


# --- run / status / lock --------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    result = execute_once(settings, Trigger("cli", limit=args.limit), default_registry(settings))
    data = result.to_response()
    if result.skipped:
        text = "skipped: another run holds the execution lock"
    else:
        c = result.counts
        text = (
            f"run {result.run_id}: {c.processed} processed, "
            f"{c.published} published, {c.failed} failed, "
            f"{c.deferred} deferred, {c.unknown} unknown "
            f"in {result.duration:.2f}s"
        )
    _emit(args, data, text)
    return EXIT_OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """The status function's report (the same code), readable or as JSON."""
    report = status.report(settings, get_database(settings), utcnow())
    scheduler, queue, health = report.scheduler, report.queue, report.health
    next_post = scheduler.next_post
    lines = [
        "; ".join(status_page.plain_state(report)),
        f"last run: {_when(scheduler.last_run_at)} ({scheduler.last_run_status}), "
        f"{scheduler.total_executions} runs, {scheduler.total_posts_published} published, "
        f"{scheduler.total_posts_failed} failed",
        f"queue: {queue.due} due, {queue.scheduled} scheduled, {queue.failed} failed, "
        f"{queue.unknown} unknown; lag {health.lag_seconds} s",
        f"execution lock: {'held' if scheduler.lock_held else 'free'}",
        f"next post: {next_post.platform} at {_when(next_post.due_at)}"
        if next_post
        else "next post: none",
    ]
    _emit(args, report.to_dict(), "\n".join(lines))
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
        f"held by run {data['holder']} since {_when(data['acquiredAt'])}, "
        f"expires {_when(data['expiresAt'])} ({state})",
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
    due = _when(doc.get("dueAt"))
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
    _emit(args, doc, jsonfmt.dumps(doc, indent=2))
    return EXIT_OK


def _operator_action(
    action: Callable[[Database[Doc], ObjectId, datetime], operations.Done | operations.Refused],
    verb: str,
) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        done = action(get_database(settings), _post_id(args.id), utcnow())
        if isinstance(done, operations.Refused):
            status_note = f" (status {done.status})" if done.status else ""
            raise OperationalError(f"post {args.id} not {verb}: {done.reason.value}{status_note}")
        _emit(args, {"id": args.id, verb: True}, f"post {args.id} {verb}")
        return EXIT_OK

    return handler


def _problems_text(problems: Sequence[Problem], line: int | None = None) -> str:
    where = f"line {line}: " if line is not None else ""
    return "\n".join(f"{where}{p.field}: {p.message}" for p in problems)


def _media(args: argparse.Namespace) -> list[dict[str, str]]:
    """`--alt` texts belong to the `--media` URLs in the order given."""
    if len(args.alt) > len(args.media):
        raise UsageError("more --alt texts than --media URLs")
    alts = [*args.alt, *[""] * (len(args.media) - len(args.alt))]
    return [
        {"url": url, "type": args.media_type, "alt": alt}
        for url, alt in zip(args.media, alts, strict=True)
    ]


def cmd_posts_add(args: argparse.Namespace, settings: Settings) -> int:
    request = operations.PostRequest(
        account_id=args.account,
        scheduled_at=args.at,
        time_zone=args.tz,
        text=args.text or "",
        link=args.link,
        media=_media(args),
        content_warning=args.cw,
        visibility=args.visibility,
    )
    result = operations.schedule_post(get_database(settings), request, utcnow())
    if isinstance(result, operations.NoSuchAccount):
        raise UsageError(
            f"no account {result.account_id!r}; add it with `socialsched accounts add`"
        )
    if isinstance(result, operations.Invalid):
        raise UsageError("the post is not valid:\n" + _problems_text(result.problems))
    when = result.when
    data = {"id": result.post_id, "scheduledAt": when.instant, "timeZone": when.time_zone}
    _emit(
        args,
        data,
        f"scheduled post {result.post_id} for {when.local_time} ({when.instant.isoformat()})",
    )
    return EXIT_OK


def cmd_posts_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    report = operations.reconcile_unknown(
        get_database(settings), settings, default_registry(settings), utcnow(), limit=args.limit
    )
    data = asdict(report)
    _emit(args, data, ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in data.items()))
    return EXIT_OK


# --- accounts -------------------------------------------------------------------------------


def _read_token(args: argparse.Namespace, what: str = "access token") -> str:
    """Tokens and passwords never come from argv (it is visible in ps and shell history)."""
    if args.token_env:
        token = os.environ.get(args.token_env, "")
        if not token:
            raise UsageError(f"environment variable {args.token_env} is empty or unset")
    else:
        if sys.stdin.isatty():
            print(f"Paste the {what}, then press Enter:", file=sys.stderr)
        token = sys.stdin.readline()
    token = token.strip()
    if not token:
        raise UsageError("no token given (stdin was empty)")
    return token


def cmd_accounts_add(args: argparse.Namespace, settings: Settings) -> int:
    """Add an account, or re-authenticate an existing one with a new token."""
    details = operations.AccountDetails(args.platform, args.external_id, args.name)
    try:
        cipher = TokenCipher.from_settings(settings)
        stored = operations.store_token(
            get_database(settings), cipher, args.id, _read_token(args), details, utcnow()
        )
    except TokenKeyError as exc:
        raise UsageError(str(exc)) from exc
    if isinstance(stored, operations.DetailsMissing):
        raise UsageError("a new account needs --platform and --external-id")
    if isinstance(stored, operations.Reauthenticated):
        released = stored.posts_released
        _emit(
            args,
            {"id": args.id, "reauthenticated": True, "postsReleased": released},
            f"account {args.id}: new token stored, status active; "
            f"{released} held posts due again now",
        )
        return EXIT_OK
    _emit(args, {"id": args.id, "created": True}, f"account {args.id} added")
    return EXIT_OK


def cmd_accounts_connect(args: argparse.Namespace, settings: Settings) -> int:
    """Connect a Threads, Bluesky or Mastodon account; the secret is read like a token, never
    from argv."""
    db = get_database(settings)
    try:
        if args.network == "bluesky":
            if not args.handle:
                raise UsageError("bluesky needs --handle")
            secret = _read_token(args, "app password")
            login = operations.BlueskyLogin(args.handle, secret, args.pds)
            connected = operations.connect_bluesky(db, settings, args.id, login, utcnow())
        elif args.network == "threads":
            threads = operations.ThreadsLogin(_read_token(args))
            connected = operations.connect_threads(db, settings, args.id, threads, utcnow())
        else:
            if not args.instance:
                raise UsageError("mastodon needs --instance")
            masto = operations.MastodonLogin(args.instance, _read_token(args))
            connected = operations.connect_mastodon(db, settings, args.id, masto, utcnow())
    except TokenKeyError as exc:
        raise UsageError(str(exc)) from exc
    if isinstance(connected, operations.ConnectRefused):
        raise UsageError(connected.reason)
    if isinstance(connected, operations.Reauthenticated):
        released = connected.posts_released
        _emit(
            args,
            {"id": args.id, "reauthenticated": True, "postsReleased": released},
            f"account {args.id}: new credential stored, status active; "
            f"{released} held posts due again now",
        )
        return EXIT_OK
    _emit(args, {"id": args.id, "created": True}, f"account {args.id} connected")
    return EXIT_OK


def cmd_accounts_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [
        {
            "id": a.id,
            "platform": a.platform,
            "externalId": a.external_id,
            "name": a.name,
            "status": a.status,
            "pausedUntil": a.paused_until,
            "tokenExpiresAt": a.token_expires_at,
        }
        for a in accounts.list_all(get_database(settings))
    ]
    header = f"{'id':<20}  {'platform':<9}  {'status':<12}  {'external id':<20}  name"
    lines = [
        f"{r['id']:<20}  {r['platform']:<9}  {r['status']:<12}  {r['externalId']:<20}  {r['name']}"
        for r in rows
    ]
    _emit(args, rows, "\n".join([header, *lines]))
    return EXIT_OK


def cmd_accounts_check(args: argparse.Namespace, settings: Settings) -> int:
    results = operations.check_tokens(get_database(settings), settings, utcnow())
    lines = [
        f"{h.account_id:<20}  {'valid' if h.valid else 'INVALID':<8}  "
        f"expires {_when(h.expires_at) or 'never'}  {h.problem or ''}".rstrip()
        for h in results
    ]
    _emit(args, [h.to_dict() for h in results], "\n".join(lines) or "no accounts")
    return EXIT_OK if all(h.valid for h in results) else EXIT_FAILURE


# --- import and the local stack -------------------------------------------------------------


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    show_progress = not args.json and sys.stderr.isatty()
    try:
        with open(args.file, encoding="utf-8", newline="") as handle:
            result = operations.import_csv(
                get_database(settings),
                handle,
                utcnow(),
                default_time_zone=args.tz,
                progress=_progress_bar if show_progress else None,
            )
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.file} is not UTF-8 text (byte {exc.start})") from exc
    except csv.Error as exc:
        raise UsageError(f"{args.file} is not a readable CSV file: {exc}") from exc
    if isinstance(result, operations.ImportRefused):
        message = "\n".join(f"line {e.line}: {e.field}: {e.message}" for e in result.problems)
        raise UsageError(f"nothing imported; fix these rows:\n{message}")
    _emit(args, {"imported": result.count}, f"imported {result.count} posts")
    return EXIT_OK


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def cmd_dev(args: argparse.Namespace, settings: Settings | None) -> int:
    del settings
    try:
        return local_stack.run(args.tick_seconds, Path(args.data_dir), demo=not args.no_demo)
    except local_stack.NotACloneError as exc:
        raise UsageError(str(exc)) from exc


# --- wiring ---------------------------------------------------------------------------------


def _positive(raw: str) -> int:
    """A count of at least 1 (MongoDB refuses a $limit of 0; a negative one means nothing)."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {raw!r}")
    return value


def _add_posts_commands(sub: Any) -> None:
    posts_cmd = sub.add_parser("posts", help="scheduled posts")
    posts_sub = posts_cmd.add_subparsers(dest="posts_command", required=True)
    add = posts_sub.add_parser("add", help="schedule a post (validated first)")
    add.add_argument("--account", required=True)
    add.add_argument("--at", required=True, help="ISO-8601 with an offset, or local with --tz")
    add.add_argument("--tz", help="IANA zone for --at without an offset, e.g. Europe/Berlin")
    add.add_argument("--text")
    add.add_argument("--link")
    add.add_argument("--media", action="append", default=[], help="https URL; repeat for several")
    add.add_argument("--media-type", choices=("image", "video"), default="image")
    add.add_argument(
        "--alt", action="append", default=[], help="alt text of the n-th --media (Bluesky)"
    )
    add.add_argument("--cw", help="content warning shown before the post (Mastodon)")
    add.add_argument(
        "--visibility", choices=("public", "unlisted", "private", "direct"), help="Mastodon"
    )
    add.set_defaults(handler=cmd_posts_add)
    listing = posts_sub.add_parser("list")
    listing.add_argument("--status", choices=model.STATUSES)
    listing.add_argument("--account")
    listing.add_argument("--since", help="due at or after (ISO-8601)")
    listing.add_argument("--until", help="due before (ISO-8601)")
    listing.add_argument("--tz", help="IANA zone for --since/--until without an offset")
    listing.add_argument("--limit", type=_positive, default=100)
    listing.set_defaults(handler=cmd_posts_list)
    for name, handler in (
        ("show", cmd_posts_show),
        (
            "cancel",
            _operator_action(operations.cancel_post, "canceled"),
        ),
        (
            "retry",
            _operator_action(operations.retry_post, "rescheduled"),
        ),
    ):
        cmd = posts_sub.add_parser(name)
        cmd.add_argument("id")
        cmd.set_defaults(handler=handler)
    reconcile = posts_sub.add_parser("reconcile", help="look for unknown posts on the platform")
    reconcile.add_argument("--limit", type=_positive, default=100)
    reconcile.set_defaults(handler=cmd_posts_reconcile)


def _add_accounts_commands(sub: Any) -> None:
    accounts_cmd = sub.add_parser("accounts", help="connected accounts on every network")
    accounts_sub = accounts_cmd.add_subparsers(dest="accounts_command", required=True)
    add = accounts_sub.add_parser(
        "add",
        help="add an account or store a new token for one; "
        "the token is read from stdin or --token-env",
    )
    add.add_argument("--id", required=True, help="your name for the account")
    # The other networks need more than a token (a PDS, an instance) and a check with the
    # network: `accounts connect` adds them.
    add.add_argument(
        "--platform",
        choices=("facebook", "instagram"),
        help="Threads, Bluesky and Mastodon: use `accounts connect`",
    )
    add.add_argument("--external-id", help="the Page id or Instagram user id")
    add.add_argument("--name")
    add.add_argument("--token-env", help="read the token from this environment variable")
    add.set_defaults(handler=cmd_accounts_add)
    connect = accounts_sub.add_parser(
        "connect",
        help="connect a Threads account (long-lived token), a Bluesky account (handle + app "
        "password) or a Mastodon account (instance + access token); the secret is read from "
        "stdin or --token-env and checked with the network before it is stored",
    )
    connect.add_argument("network", choices=("threads", "bluesky", "mastodon"))
    connect.add_argument("--id", required=True, help="your name for the account")
    connect.add_argument("--handle", help="Bluesky: e.g. alice.bsky.social")
    connect.add_argument("--pds", default="https://bsky.social", help="Bluesky: the PDS URL")
    connect.add_argument("--instance", help="Mastodon: e.g. https://mastodon.social")
    connect.add_argument("--token-env", help="read the secret from this environment variable")
    connect.set_defaults(handler=cmd_accounts_connect)
    accounts_sub.add_parser("list").set_defaults(handler=cmd_accounts_list)
    accounts_sub.add_parser(
        "check", help="validate every account's credential with its network"
    ).set_defaults(handler=cmd_accounts_check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socialsched", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="one execution against the configured database")
    run.add_argument("--limit", type=_positive, help="publish at most this many posts")
    run.set_defaults(handler=cmd_run)
    sub.add_parser("status", help="the scheduler's state").set_defaults(handler=cmd_status)

    lock_cmd = sub.add_parser("lock", help="inspect or release the execution lock")
    lock_sub = lock_cmd.add_subparsers(dest="lock_command", required=True)
    lock_sub.add_parser("show").set_defaults(handler=cmd_lock_show)
    release = lock_sub.add_parser("release", help="release a stuck lock")
    release.add_argument("--force", action="store_true", help="release even if not expired")
    release.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    release.set_defaults(handler=cmd_lock_release)

    _add_posts_commands(sub)
    _add_accounts_commands(sub)
    importer = sub.add_parser("import", help="schedule many posts from a CSV file, all or none")
    importer.add_argument("file")
    importer.add_argument("--tz", help="zone for rows whose time has no offset and no tz column")
    importer.set_defaults(handler=cmd_import)
    dev = sub.add_parser("dev", help="run the whole stack locally (what `make run` does)")
    dev.add_argument(
        "--tick-seconds",
        type=float,
        default=60.0,
        help="seconds between ticks (default 60, as Cloud Scheduler)",
    )
    dev.add_argument("--data-dir", default=".data", help="where the local database lives")
    dev.add_argument("--no-demo", action="store_true", help="do not add demo accounts and posts")
    dev.set_defaults(handler=cmd_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.handler is cmd_dev:  # the stack configures its own database and secrets
            return int(cmd_dev(args, None))
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
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
