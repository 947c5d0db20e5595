"""`socialsched import FILE`: schedule every row of a CSV file, or none."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from common.db import Doc
from common.entrypoints.cli import csv_media
from common.entrypoints.cli.backend import Backend, UsageError
from common.entrypoints.cli.output import EXIT_OK, allow_late_flag, emit


def cmd_import(args: argparse.Namespace, backend: Backend) -> int:
    show_progress = not args.json and sys.stderr.isatty()
    try:
        with open(args.file, encoding="utf-8", newline="") as handle:
            text = handle.read()
        # Local files in the media column go up first (checked, once each), named by id.
        text = csv_media.with_uploads(text, Path(args.file).parent, backend.upload_media)
        result = backend.import_csv(
            io.StringIO(text, newline=""),
            args.tz,
            args.allow_late,
            _progress_bar if show_progress else None,
        )
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.file} is not UTF-8 text (byte {exc.start})") from exc
    except csv.Error as exc:
        raise UsageError(f"{args.file} is not a readable CSV file: {exc}") from exc
    emit(args, result, "\n".join(import_lines(result)))
    return EXIT_OK


def import_lines(result: Doc) -> list[str]:
    """What an import did, for a person: counts first, then the rows that need a look."""
    lines = [f"imported {plural(result['imported'], 'post')}"]
    already, updated = result["alreadyScheduled"], result["updated"]
    if updated:
        lines.append(f"{plural(len(updated), 'row')} changed the post their key names:")
        lines += [f"line {u['line']}: post {u['id']} updated" for u in updated]
    if already:
        lines.append(
            f"{plural(len(already), 'row')} already scheduled (nothing new made for them):"
        )
        lines += [f"line {a['line']}: already scheduled as post {a['id']}" for a in already]
    for warning in result["warnings"]:
        lines.append(f"warning: line {warning['line']}: {warning['message']}")
    for problem in result["notChanged"]:
        lines.append(f"not changed: line {problem['line']}: {problem['message']}")
    return lines


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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


def register(sub: Any) -> None:
    importer = sub.add_parser(
        "import",
        help="schedule many posts from a CSV file, all or none; local files in its media column "
        "(relative to the file's folder) are uploaded first",
    )
    importer.add_argument("file")
    importer.add_argument("--tz", help="zone for rows whose time has no offset and no tz column")
    allow_late_flag(importer)
    importer.set_defaults(handler=cmd_import)
