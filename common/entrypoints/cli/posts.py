"""`socialsched posts ...`: schedule, list, show, edit, cancel, retry and reconcile posts;
submit drafts, approve them or send them back."""

from __future__ import annotations

import argparse
import difflib
from datetime import datetime
from pathlib import Path
from typing import Any

from bson import ObjectId

from common import jsonfmt, model
from common.clock import TimeError, resolve
from common.db import Doc
from common.entrypoints.cli import uploads
from common.entrypoints.cli.backend import Action, Backend, UnknownAccountError, UsageError
from common.entrypoints.cli.output import (
    EXIT_OK,
    allow_late_flag,
    command_group,
    emit,
    positive,
    when,
)
from common.operations import post_actions, scheduling
from common.posts import listing as post_listing


def _post_id(raw: str) -> str:
    if not ObjectId.is_valid(raw):
        raise UsageError(f"{raw!r} is not a post id")
    return raw


def _post_row(post: Doc, zone: str | None) -> str:
    scheduled = when(post.get("scheduledAt"), zone)
    row = (
        f"{post['id']}  {post['status']:<10}  {post['platform']:<9}  {post['accountId']:<16}  "
        f"{scheduled}"
    )
    error = post.get("lastError")
    # A post waiting past its scheduled time (held for its account, or a retry) says until when.
    if post["status"] == "scheduled" and post.get("dueAt") != post.get("scheduledAt"):
        held = error is not None and error["code"] in (model.AUTH_EXPIRED, model.ACCOUNT_INACTIVE)
        row = f"{row}  {'held until' if held else 'due again'} {when(post.get('dueAt'), zone)}"
    return f"{row}  {error['code']}: {error['message']}" if error else row


def _instant(raw: str | None, tz: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return resolve(raw, tz or "UTC").instant
    except TimeError as exc:
        raise UsageError(str(exc)) from exc


def cmd_list(args: argparse.Namespace, backend: Backend) -> int:
    where = post_listing.PostFilter(
        status=args.status,
        account_id=args.account,
        due_after=_instant(args.since, args.tz),
        due_before=_instant(args.until, args.tz),
    )
    page = backend.list_posts(where, args.after, args.limit)
    header = f"{'id':<24}  {'status':<10}  {'platform':<9}  {'account':<16}  scheduled"
    lines = [header, *(_post_row(r, args.show_tz) for r in page["posts"])]
    if page["next"]:
        lines.append(f"more posts: --after {page['next']}")
    emit(args, page, "\n".join(lines))
    return EXIT_OK


def cmd_show(args: argparse.Namespace, backend: Backend) -> int:
    post = backend.show_post(_post_id(args.id))
    emit(args, post, jsonfmt.dumps(post, indent=2))
    return EXIT_OK


def _operator_action(action: Action) -> Any:
    def handler(args: argparse.Namespace, backend: Backend) -> int:
        post = backend.act(_post_id(args.id), action)
        emit(args, post, f"post {args.id} {post['status']}")
        return EXIT_OK

    return handler


def cmd_send_back(args: argparse.Namespace, backend: Backend) -> int:
    post = backend.act(_post_id(args.id), "send_back", args.comment)
    emit(args, post, f"post {args.id} {post['status']}")
    return EXIT_OK


def _media(args: argparse.Namespace, backend: Backend) -> list[dict[str, str]]:
    """`--alt` texts belong to the `--media` items in the order given; a local file is
    uploaded first (checked for the account's network) and named by its media id."""
    if len(args.alt) > len(args.media):
        raise UsageError("more --alt texts than --media items")
    alts = [*args.alt, *[""] * (len(args.media) - len(args.alt))]
    return [
        _uploaded(value, alt, args.account, backend)
        if uploads.is_local(value)
        else {"url": value, "type": args.media_type, "alt": alt}
        for value, alt in zip(args.media, alts, strict=True)
    ]


def _uploaded(value: str, alt: str, account: str, backend: Backend) -> dict[str, str]:
    item = backend.upload_media(uploads.describe(Path(value)), [account])
    if item["state"] != "ready":
        reasons = "; ".join(f"{p['rule']}: {p['message']}" for p in item["problems"])
        raise UsageError(f"{value}: refused: {reasons}")
    return {"mediaId": item["id"], "alt": alt}


def unknown_account(account_id: str, backend: Backend) -> str:
    """'no account "my-igg"; did you mean "my-ig"?', from the accounts the caller may see."""
    known = [str(a["id"]) for a in backend.list_accounts()]
    near = difflib.get_close_matches(account_id, known, n=3, cutoff=0.6)
    if near:
        names = " or ".join(repr(n) for n in near)
        return f"no account {account_id!r}; did you mean {names}?"
    listed = "`socialsched accounts list` shows them, `accounts connect` adds one"
    return f"no account {account_id!r}; {listed}"


def cmd_add(args: argparse.Namespace, backend: Backend) -> int:
    request = scheduling.PostRequest(
        account_id=args.account,
        scheduled_at=args.at,
        time_zone=args.tz,
        text=args.text or "",
        link=args.link,
        media=_media(args, backend),
        content_warning=args.cw,
        visibility=args.visibility,
        idempotency_key=args.key,
        allow_late=args.allow_late,
        stage=args.stage,
        first_comment=args.comment,
        thread=tuple(args.thread_part),
    )
    try:
        added = backend.add_post(request)
    except UnknownAccountError as exc:
        raise UsageError(unknown_account(exc.account_id, backend)) from exc
    at = f"{added['localTime']} ({when(added['scheduledAt'], args.show_tz)})"
    made = "scheduled" if args.stage == "scheduled" else args.stage.replace("_", " ")
    text = (
        f"already scheduled: post {added['id']} for {at}"
        if added["alreadyScheduled"]
        else f"{made} post {added['id']} for {at}"
    )
    warnings = [f"warning: {w}" for w in added.get("warnings", ())]
    emit(args, added, "\n".join([text, *warnings]))
    return EXIT_OK


def cmd_edit(args: argparse.Namespace, backend: Backend) -> int:
    changes = post_actions.PostChanges(
        text=args.text,
        link=args.link,
        media=[{"url": url, "type": args.media_type} for url in args.media] or None,
        scheduled_at=args.at,
        time_zone=args.tz,
        allow_late=args.allow_late,
    )
    post = backend.edit_post(_post_id(args.id), changes, args.version)
    emit(args, post, f"post {args.id} edited (version {post['version']})")
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace, backend: Backend) -> int:
    report = backend.reconcile(args.limit)
    words = {
        "checked": "checked",
        "published": "published",
        "rescheduled": "rescheduled",
        "stillUnknown": "still unknown",
        "errors": "errors",
    }
    emit(args, report, ", ".join(f"{words[k]}: {report[k]}" for k in words))
    return EXIT_OK


def register(sub: Any) -> None:
    posts_sub = command_group(sub, "posts", "scheduled posts")
    add = posts_sub.add_parser("add", help="schedule a post (validated first)")
    add.add_argument("--account", required=True)
    add.add_argument("--at", required=True, help="ISO-8601 with an offset, or local with --tz")
    add.add_argument("--tz", help="IANA zone for --at without an offset, e.g. Europe/Berlin")
    add.add_argument("--text")
    add.add_argument("--link")
    add.add_argument(
        "--media",
        action="append",
        default=[],
        help="a local file (uploaded first) or an https URL; repeat for several",
    )
    add.add_argument("--media-type", choices=("image", "video"), default="image")
    add.add_argument("--key", help="idempotency key (default: account + time + content)")
    allow_late_flag(add)
    add.add_argument(
        "--alt", action="append", default=[], help="alt text of the n-th --media (Bluesky)"
    )
    add.add_argument("--cw", help="content warning shown before the post (Mastodon)")
    add.add_argument(
        "--visibility", choices=("public", "unlisted", "private", "direct"), help="Mastodon"
    )
    add.add_argument(
        "--stage",
        choices=model.STAGES,
        default="scheduled",
        help="draft: never published until submitted and approved; pending_approval: "
        "published at its time once approved",
    )
    add.add_argument(
        "--comment",
        help="a first comment, published once the post is out (a reply on Threads, Bluesky, "
        "Mastodon)",
    )
    add.add_argument(
        "--thread-part",
        action="append",
        default=[],
        metavar="TEXT",
        help="the thread's next part, a reply to the part before; repeat in order "
        "(Threads, Bluesky, Mastodon)",
    )
    add.set_defaults(handler=cmd_add)
    edit = posts_sub.add_parser("edit", help="change a scheduled post's content or time")
    edit.add_argument("id")
    edit.add_argument("--version", type=positive, help="refuse unless the post is at it")
    edit.add_argument("--at", help="new time: ISO-8601 with an offset, or local with --tz")
    edit.add_argument("--tz", help="IANA zone for --at without an offset")
    edit.add_argument("--text")
    edit.add_argument("--link")
    edit.add_argument("--media", action="append", default=[], help="replaces all media")
    edit.add_argument("--media-type", choices=("image", "video"), default="image")
    allow_late_flag(edit)
    edit.set_defaults(handler=cmd_edit)
    listing = posts_sub.add_parser("list", help="posts by due time, a page at a time")
    listing.add_argument("--status", choices=model.STATUSES)
    listing.add_argument("--account")
    listing.add_argument("--since", help="due at or after (ISO-8601)")
    listing.add_argument("--until", help="due before (ISO-8601)")
    listing.add_argument("--tz", help="IANA zone for --since/--until without an offset")
    listing.add_argument("--limit", type=positive, default=100)
    listing.add_argument("--after", help="the cursor printed after the previous page")
    listing.set_defaults(handler=cmd_list)
    for name, handler, summary in (
        ("show", cmd_show, "one post with its history and last error"),
        ("cancel", _operator_action("cancel"), "cancel a post unless its send has begun"),
        ("retry", _operator_action("retry"), "schedule a failed or unknown post again, now"),
        ("submit", _operator_action("submit"), "ask for a draft's approval"),
        (
            "approve",
            _operator_action("approve"),
            "approve a post awaiting approval: it goes out at its time",
        ),
    ):
        cmd = posts_sub.add_parser(name, help=summary)
        cmd.add_argument("id")
        cmd.set_defaults(handler=handler)
    send_back = posts_sub.add_parser("send-back", help="return a post for approval to draft")
    send_back.add_argument("id")
    send_back.add_argument("--comment", required=True, help="what the author should change")
    send_back.set_defaults(handler=cmd_send_back)
    reconcile = posts_sub.add_parser("reconcile", help="look for unknown posts on the platform")
    reconcile.add_argument("--limit", type=positive, default=100)
    reconcile.set_defaults(handler=cmd_reconcile)
