"""`socialsched series ...`: recurring posts, added, listed, shown, edited from an occurrence on
("this and following"), ended."""

from __future__ import annotations

import argparse
from typing import Any

from common.db import Doc
from common.entrypoints.cli.backend import Backend
from common.entrypoints.cli.output import EXIT_OK, command_group, emit
from common.operations.scheduling import PostRequest
from common.operations.series_split import SeriesChanges


def cmd_add(args: argparse.Namespace, backend: Backend) -> int:
    template = PostRequest(
        account_id=args.account,
        scheduled_at=args.start,
        time_zone=args.tz,
        text=args.text or "",
        link=args.link,
        media=_media(args),
    )
    made = backend.add_series(template, args.rule)
    emit(args, made, f"series {made['id']} added; made up to {made['madeUntil'] or 'none yet'}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, backend: Backend) -> int:
    rows = backend.list_series(args.account)["series"]
    emit(args, rows, "\n".join(_line(r) for r in rows) or "no series")
    return EXIT_OK


def cmd_show(args: argparse.Namespace, backend: Backend) -> int:
    shown = backend.show_series(args.id)
    emit(args, shown, "\n".join(f"{k}: {v}" for k, v in shown.items()))
    return EXIT_OK


def cmd_edit(args: argparse.Namespace, backend: Backend) -> int:
    changes = SeriesChanges(
        text=args.text,
        link=args.link,
        media=_media(args) or None,
        rule=args.rule,
        start=args.start,
    )
    split = backend.edit_series(args.id, changes, args.since)
    text = (
        f"series {args.id} changed from {split['since']} on by series {split['successorId']}; "
        "the next run makes those occurrences again"
    )
    emit(args, split, text)
    return EXIT_OK


def cmd_end(args: argparse.Namespace, backend: Backend) -> int:
    ended = backend.end_series(args.id)
    emit(args, ended, f"series {args.id} ended; {ended['canceled']} unsent occurrences canceled")
    return EXIT_OK


def _line(row: Doc) -> str:
    state = "ended" if row["ended"] else "edit pending" if row["editPending"] else "live"
    return f"{row['id']}  {row['accountId']:<16} {state:<12} {row['rule']}  from {row['start']}"


def _media(args: argparse.Namespace) -> list[dict[str, str]]:
    return [{"url": url, "type": args.media_type} for url in args.media]


def register(sub: Any) -> None:
    series_sub = command_group(sub, "series", "recurring posts (an RFC 5545 rule in a zone)")
    add = series_sub.add_parser(
        "add", help="repeat a post by a rule; its next occurrences become posts at once"
    )
    add.add_argument("--account", required=True)
    add.add_argument("--start", required=True, help="the first local time, e.g. 2027-01-04T09:00")
    add.add_argument("--tz", required=True, help="IANA zone the time is kept in")
    add.add_argument("--rule", required=True, help="an RRULE, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=8")
    _content_arguments(add)
    add.set_defaults(handler=cmd_add)
    listing = series_sub.add_parser("list", help="the series, newest first")
    listing.add_argument("--account")
    listing.set_defaults(handler=cmd_list)
    show = series_sub.add_parser("show", help="one series")
    show.add_argument("id")
    show.set_defaults(handler=cmd_show)
    edit = series_sub.add_parser(
        "edit",
        help="change this and the following occurrences (an occurrence edited on its own with "
        "`posts edit` keeps its edit)",
    )
    edit.add_argument("id")
    edit.add_argument("--since", help="the first occurrence to change (local); default the next")
    edit.add_argument("--rule", help="a new RRULE")
    edit.add_argument("--start", help="the new first local time (default --since)")
    _content_arguments(edit)
    edit.set_defaults(handler=cmd_edit)
    end = series_sub.add_parser("end", help="end a series; its unsent occurrences are canceled")
    end.add_argument("id")
    end.set_defaults(handler=cmd_end)


def _content_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--text")
    command.add_argument("--link")
    command.add_argument("--media", action="append", default=[], help="an https URL; repeat")
    command.add_argument("--media-type", choices=("image", "video"), default="image")
