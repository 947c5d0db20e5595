"""The `socialsched` command: operate the scheduler against the configured MongoDB, or, with
SOCIALSCHED_API_URL and SOCIALSCHED_API_KEY set, through the api function (posts, import and
accounts; the laptop then needs no database URI and no token key).

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
from pymongo.errors import PyMongoError

from common import apikeys, clock, jsonfmt, lock, model, posts, status
from common.clock import TimeError, resolve, utcnow
from common.config import ApiRemote, ConfigError, Settings, load_remote, load_settings
from common.db import DatabaseUnavailableError, Doc, describe_failure, ensure_indexes, get_database
from common.engine import Trigger, execute_once
from common.entrypoints import cli_backends, local_stack, status_page
from common.entrypoints.api_client import ApiClient, ApiUnreachable
from common.entrypoints.cli_backends import Backend, OperationalError, UsageError
from common.operations import accounts as account_ops
from common.operations import post_actions, reconcile, scheduling
from common.platforms.registry import default_registry
from common.tokens import TokenCipher, TokenKeyError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
Handler = Callable[[argparse.Namespace, Settings], int]
BackendHandler = Callable[[argparse.Namespace, Backend], int]


def _when(value: datetime | None, zone: str | None = None) -> str | None:
    """RFC 3339 in UTC, or in the operator's zone (--show-tz) without microseconds."""
    if value is None:
        return None
    if zone is None:
        return jsonfmt.to_rfc3339(value)
    return value.astimezone(clock.zone(zone)).isoformat(timespec="seconds")


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


def _post_id(raw: str) -> str:
    if not ObjectId.is_valid(raw):
        raise UsageError(f"{raw!r} is not a post id")
    return raw


def _shown_time(value: datetime | str | None, zone: str | None) -> str | None:
    """Times come as instants (direct) or RFC 3339 text (remote); shown the same either way."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _when(value, zone)


def _post_row(post: Doc, zone: str | None) -> str:
    due = _shown_time(post.get("dueAt"), zone)
    row = (
        f"{post['id']}  {post['status']:<10}  {post['platform']:<9}  {post['accountId']:<16}  {due}"
    )
    error = post.get("lastError")
    return f"{row}  {error['code']}: {error['message']}" if error else row


def _instant(raw: str | None, tz: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return resolve(raw, tz or "UTC").instant
    except TimeError as exc:
        raise UsageError(str(exc)) from exc


def cmd_posts_list(args: argparse.Namespace, backend: Backend) -> int:
    where = posts.PostFilter(
        status=args.status,
        account_id=args.account,
        due_after=_instant(args.since, args.tz),
        due_before=_instant(args.until, args.tz),
    )
    page = backend.list_posts(where, args.after, args.limit)
    header = f"{'id':<24}  {'status':<10}  {'platform':<9}  {'account':<16}  due"
    lines = [header, *(_post_row(r, args.show_tz) for r in page["posts"])]
    if page["next"]:
        lines.append(f"more posts: --after {page['next']}")
    _emit(args, page, "\n".join(lines))
    return EXIT_OK


def cmd_posts_show(args: argparse.Namespace, backend: Backend) -> int:
    post = backend.show_post(_post_id(args.id))
    _emit(args, post, jsonfmt.dumps(post, indent=2))
    return EXIT_OK


def _operator_action(action: cli_backends.Action) -> BackendHandler:
    def handler(args: argparse.Namespace, backend: Backend) -> int:
        post = backend.act(_post_id(args.id), action)
        _emit(args, post, f"post {args.id} {post['status']}")
        return EXIT_OK

    return handler


def _media(args: argparse.Namespace) -> list[dict[str, str]]:
    """`--alt` texts belong to the `--media` URLs in the order given."""
    if len(args.alt) > len(args.media):
        raise UsageError("more --alt texts than --media URLs")
    alts = [*args.alt, *[""] * (len(args.media) - len(args.alt))]
    return [
        {"url": url, "type": args.media_type, "alt": alt}
        for url, alt in zip(args.media, alts, strict=True)
    ]


def cmd_posts_add(args: argparse.Namespace, backend: Backend) -> int:
    request = scheduling.PostRequest(
        account_id=args.account,
        scheduled_at=args.at,
        time_zone=args.tz,
        text=args.text or "",
        link=args.link,
        media=_media(args),
        content_warning=args.cw,
        visibility=args.visibility,
        idempotency_key=args.key,
        allow_late=args.allow_late,
    )
    added = backend.add_post(request)
    when = f"{added['localTime']} ({_shown_time(added['scheduledAt'], args.show_tz)})"
    text = (
        f"already scheduled: post {added['id']} for {when}"
        if added["alreadyScheduled"]
        else f"scheduled post {added['id']} for {when}"
    )
    _emit(args, added, text)
    return EXIT_OK


def cmd_posts_edit(args: argparse.Namespace, backend: Backend) -> int:
    changes = post_actions.PostChanges(
        text=args.text,
        link=args.link,
        media=[{"url": url, "type": args.media_type} for url in args.media] or None,
        scheduled_at=args.at,
        time_zone=args.tz,
        allow_late=args.allow_late,
    )
    post = backend.edit_post(_post_id(args.id), changes, args.version)
    _emit(args, post, f"post {args.id} edited (version {post['version']})")
    return EXIT_OK


def cmd_posts_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    report = reconcile.reconcile_unknown(
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
    details = account_ops.AccountDetails(args.platform, args.external_id, args.name)
    try:
        cipher = TokenCipher.from_settings(settings)
        stored = account_ops.store_token(
            get_database(settings), cipher, args.id, _read_token(args), details, utcnow()
        )
    except TokenKeyError as exc:
        raise UsageError(str(exc)) from exc
    if isinstance(stored, account_ops.DetailsMissing):
        raise UsageError("a new account needs --platform and --external-id")
    if isinstance(stored, account_ops.Reauthenticated):
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


def cmd_accounts_connect(args: argparse.Namespace, backend: Backend) -> int:
    """Connect accounts: a Meta login's Pages (and linked Instagram accounts), or one Threads,
    Bluesky or Mastodon account."""
    if args.network != "meta":
        return _connect_network(args, backend)
    return _connect_meta(args, backend)


def _connect_network(args: argparse.Namespace, backend: Backend) -> int:
    """A Threads, Bluesky or Mastodon account; the secret is read like a token, never from argv."""
    if not isinstance(backend, cli_backends.Direct):
        raise UsageError(
            f"connecting a {args.network} account works on the database itself: unset "
            "SOCIALSCHED_API_URL and use MONGO_URI (the API connects Meta logins only)"
        )
    if not args.id:
        raise UsageError(f"{args.network} needs --id (your name for the account)")
    settings = backend.settings
    db = get_database(settings)
    try:
        if args.network == "bluesky":
            if not args.handle:
                raise UsageError("bluesky needs --handle")
            secret = _read_token(args, "app password")
            login = account_ops.BlueskyLogin(args.handle, secret, args.pds)
            connected = account_ops.connect_bluesky(db, settings, args.id, login, utcnow())
        elif args.network == "threads":
            threads = account_ops.ThreadsLogin(_read_token(args))
            connected = account_ops.connect_threads(db, settings, args.id, threads, utcnow())
        else:
            if not args.instance:
                raise UsageError("mastodon needs --instance")
            masto = account_ops.MastodonLogin(args.instance, _read_token(args))
            connected = account_ops.connect_mastodon(db, settings, args.id, masto, utcnow())
    except TokenKeyError as exc:
        raise UsageError(str(exc)) from exc
    if isinstance(connected, account_ops.ConnectRefused):
        raise UsageError(connected.reason)
    if isinstance(connected, account_ops.Reauthenticated):
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


def _connect_meta(args: argparse.Namespace, backend: Backend) -> int:
    """Meta onboarding from a login's short-lived user token (read like any token)."""
    result = backend.connect(_read_token(args), args.page or None)
    lines = [
        f"{r['id']:<24}  {r['platform']:<9}  {'added' if r['added'] else 'new token':<9}  "
        f"{r['name']}"
        for r in result["accounts"]
    ]
    _emit(args, result, "\n".join(lines) or "this login manages no Pages")
    return EXIT_OK


def cmd_accounts_list(args: argparse.Namespace, backend: Backend) -> int:
    rows = backend.list_accounts()
    header = f"{'id':<20}  {'platform':<9}  {'status':<12}  {'external id':<20}  name"
    lines = [
        f"{r['id']:<20}  {r['platform']:<9}  {r['status']:<12}  {r['externalId']:<20}  {r['name']}"
        for r in rows
    ]
    _emit(args, rows, "\n".join([header, *lines]))
    return EXIT_OK


def cmd_accounts_check(args: argparse.Namespace, backend: Backend) -> int:
    results = backend.check_accounts()
    lines = [
        f"{h['accountId']:<20}  {'valid' if h['valid'] else 'INVALID':<8}  "
        f"expires {_shown_time(h['expiresAt'], args.show_tz) or 'never'}  "
        f"{h['problem'] or ''}".rstrip()
        for h in results
    ]
    _emit(args, results, "\n".join(lines) or "no accounts")
    return EXIT_OK if all(h["valid"] for h in results) else EXIT_FAILURE


# --- API keys -------------------------------------------------------------------------------


def _key_row(key: apikeys.ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": sorted(key.scopes),
        "accounts": key.accounts,
        "createdAt": key.created_at,
        "revokedAt": key.revoked_at,
    }


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    accounts_allowed = args.account or None
    try:
        made = apikeys.create(
            get_database(settings), args.name, args.scope, utcnow(), accounts_allowed
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    data = {**_key_row(made.key), "key": made.secret}
    text = (
        f"key {made.key.id} ({', '.join(sorted(made.key.scopes))}):\n{made.secret}\n"
        "Store it now: it is shown only once and kept only as a hash."
    )
    _emit(args, data, text)
    return EXIT_OK


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [_key_row(k) for k in apikeys.list_all(get_database(settings))]
    lines = [
        f"{r['id']:<16}  {'revoked' if r['revokedAt'] else 'live':<7}  "
        f"{','.join(r['scopes']):<30}  {r['name']}"
        + (f"  accounts: {','.join(r['accounts'])}" if r["accounts"] else "")
        for r in rows
    ]
    _emit(args, rows, "\n".join(lines) or "no keys")
    return EXIT_OK


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    if not apikeys.revoke(get_database(settings), args.id, utcnow()):
        raise OperationalError(f"no live key {args.id}")
    _emit(args, {"id": args.id, "revoked": True}, f"key {args.id} revoked")
    return EXIT_OK


# --- import and the local stack -------------------------------------------------------------


def cmd_import(args: argparse.Namespace, backend: Backend) -> int:
    show_progress = not args.json and sys.stderr.isatty()
    try:
        with open(args.file, encoding="utf-8", newline="") as handle:
            result = backend.import_csv(
                handle, args.tz, args.allow_late, _progress_bar if show_progress else None
            )
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.file} is not UTF-8 text (byte {exc.start})") from exc
    except csv.Error as exc:
        raise UsageError(f"{args.file} is not a readable CSV file: {exc}") from exc
    already = result["alreadyScheduled"]
    lines = [f"imported {result['imported']} posts"]
    if already:
        lines.append(f"{len(already)} rows already scheduled (nothing new made for them):")
        lines += [f"line {a['line']}: already scheduled as post {a['id']}" for a in already]
    _emit(args, result, "\n".join(lines))
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


def _allow_late(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--allow-late",
        action="store_true",
        help="accept a time in the past (published at the next run, within MAX_LATENESS_SECONDS)",
    )


class _Command(argparse.ArgumentParser):
    """Every subcommand also takes the output options, so `posts list --json` works too.

    SUPPRESS keeps a subcommand from resetting what was given before it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
        self.add_argument("--show-tz", default=argparse.SUPPRESS, metavar="ZONE")


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
    add.add_argument("--key", help="idempotency key (default: account + time + content)")
    _allow_late(add)
    add.add_argument(
        "--alt", action="append", default=[], help="alt text of the n-th --media (Bluesky)"
    )
    add.add_argument("--cw", help="content warning shown before the post (Mastodon)")
    add.add_argument(
        "--visibility", choices=("public", "unlisted", "private", "direct"), help="Mastodon"
    )
    add.set_defaults(backend_handler=cmd_posts_add)
    edit = posts_sub.add_parser("edit", help="change a scheduled post's content or time")
    edit.add_argument("id")
    edit.add_argument("--version", type=_positive, help="refuse unless the post is at it")
    edit.add_argument("--at", help="new time: ISO-8601 with an offset, or local with --tz")
    edit.add_argument("--tz", help="IANA zone for --at without an offset")
    edit.add_argument("--text")
    edit.add_argument("--link")
    edit.add_argument("--media", action="append", default=[], help="replaces all media")
    edit.add_argument("--media-type", choices=("image", "video"), default="image")
    _allow_late(edit)
    edit.set_defaults(backend_handler=cmd_posts_edit)
    listing = posts_sub.add_parser("list", help="posts by due time, a page at a time")
    listing.add_argument("--status", choices=model.STATUSES)
    listing.add_argument("--account")
    listing.add_argument("--since", help="due at or after (ISO-8601)")
    listing.add_argument("--until", help="due before (ISO-8601)")
    listing.add_argument("--tz", help="IANA zone for --since/--until without an offset")
    listing.add_argument("--limit", type=_positive, default=100)
    listing.add_argument("--after", help="the cursor printed after the previous page")
    listing.set_defaults(backend_handler=cmd_posts_list)
    for name, handler in (
        ("show", cmd_posts_show),
        ("cancel", _operator_action("cancel")),
        ("retry", _operator_action("retry")),
    ):
        cmd = posts_sub.add_parser(name)
        cmd.add_argument("id")
        cmd.set_defaults(backend_handler=handler)
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
        help="connect accounts: `meta` (the default) stores the Pages and linked Instagram "
        "accounts of a Meta login (its short-lived user token); `threads` a long-lived token, "
        "`bluesky` a handle + app password, `mastodon` an instance + access token. Secrets are "
        "read from stdin or --token-env and checked with the network before they are stored",
    )
    connect.add_argument(
        "network", nargs="?", default="meta", choices=("meta", "threads", "bluesky", "mastodon")
    )
    connect.add_argument("--page", action="append", default=[], help="meta: only this Page id")
    connect.add_argument("--id", help="threads/bluesky/mastodon: your name for the account")
    connect.add_argument("--handle", help="Bluesky: e.g. alice.bsky.social")
    connect.add_argument("--pds", default="https://bsky.social", help="Bluesky: the PDS URL")
    connect.add_argument("--instance", help="Mastodon: e.g. https://mastodon.social")
    connect.add_argument("--token-env", help="read the secret from this environment variable")
    connect.set_defaults(backend_handler=cmd_accounts_connect)
    accounts_sub.add_parser("list").set_defaults(backend_handler=cmd_accounts_list)
    accounts_sub.add_parser(
        "check", help="validate every account's credential with its network"
    ).set_defaults(backend_handler=cmd_accounts_check)


def _add_keys_commands(sub: Any) -> None:
    keys_cmd = sub.add_parser("keys", help="API keys for the api function")
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key; it is printed once")
    create.add_argument("--name", required=True, help="who or what uses it")
    create.add_argument(
        "--scope", action="append", required=True, choices=apikeys.SCOPES, help="repeat for more"
    )
    create.add_argument(
        "--account", action="append", default=[], help="limit the key to this account; repeat"
    )
    create.set_defaults(handler=cmd_keys_create)
    keys_sub.add_parser("list").set_defaults(handler=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke")
    revoke.add_argument("id")
    revoke.set_defaults(handler=cmd_keys_revoke)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socialsched", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--show-tz", metavar="ZONE", help="print times in this IANA zone instead of UTC"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Command)

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
    _add_keys_commands(sub)
    importer = sub.add_parser("import", help="schedule many posts from a CSV file, all or none")
    importer.add_argument("file")
    importer.add_argument("--tz", help="zone for rows whose time has no offset and no tz column")
    _allow_late(importer)
    importer.set_defaults(backend_handler=cmd_import)
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


def _dispatch(args: argparse.Namespace, remote: ApiRemote | None) -> int:
    backend_handler: BackendHandler | None = getattr(args, "backend_handler", None)
    if remote is not None:
        if backend_handler is None:
            raise UsageError(
                f"`{args.command}` works on the database itself: unset SOCIALSCHED_API_URL "
                "and use MONGO_URI (posts, import and accounts work through the API)"
            )
        client = ApiClient(remote.url, remote.key)
        try:
            return backend_handler(args, cli_backends.Remote(client))
        finally:
            client.close()
    settings = load_settings()
    ensure_indexes(get_database(settings), settings.post_retention_days)
    if backend_handler is not None:
        return backend_handler(args, cli_backends.Direct(settings))
    handler: Handler = args.handler
    return handler(args, settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "handler", None) is cmd_dev:  # the stack configures its own database
            return int(cmd_dev(args, None))
        if args.show_tz is not None:
            clock.zone(args.show_tz)  # an unknown zone is a usage error before anything runs
        code = _dispatch(args, load_remote())
    except ApiUnreachable as exc:
        print(f"socialsched: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (ConfigError, UsageError, TimeError) as exc:
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
