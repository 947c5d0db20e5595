"""`socialsched import FILE`: schedule every row of a CSV file, or none."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

from common.entrypoints.cli.backend import Backend, UsageError
from common.entrypoints.cli.output import EXIT_OK, allow_late_flag, emit


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
    emit(args, result, "\n".join(lines))
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


def register(sub: Any) -> None:
    importer = sub.add_parser("import", help="schedule many posts from a CSV file, all or none")
    importer.add_argument("file")
    importer.add_argument("--tz", help="zone for rows whose time has no offset and no tz column")
    allow_late_flag(importer)
    importer.set_defaults(handler=cmd_import)
