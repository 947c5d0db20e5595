"""What every command group shares: printing (text or `--json`), times, and reading secrets."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common import clock, jsonfmt
from common.entrypoints.cli.backend import UsageError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def when(value: datetime | str | None, zone: str | None = None) -> str | None:
    """RFC 3339 in UTC, or in the operator's zone (--show-tz) without microseconds. Times come
    as instants (direct) or RFC 3339 text (remote); shown the same either way."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if zone is None:
        return jsonfmt.to_rfc3339(value)
    return value.astimezone(clock.zone(zone)).isoformat(timespec="seconds")


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(jsonfmt.dumps(data, indent=2) if args.json else text)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as wide as their widest cell (a long id never shifts the next column), two
    spaces apart; the last column is not padded."""
    lines = [[str(cell) for cell in line] for line in (header, *rows)]
    widths = [max(len(cell) for cell in column) for column in zip(*lines, strict=True)]
    padded = (
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    )
    return "\n".join(line.rstrip() for line in padded)


def read_secret(args: argparse.Namespace, what: str = "access token") -> str:
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


def positive(raw: str) -> int:
    """A count of at least 1 (MongoDB refuses a $limit of 0; a negative one means nothing)."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {raw!r}")
    return value


def command_group(sub: Any, name: str, help_text: str) -> Any:
    """`socialsched <name> <command>`: a group of commands, one of which must be named; the
    subparsers to add them to."""
    group = sub.add_parser(name, help=help_text)
    return group.add_subparsers(dest=f"{name}_command", required=True)


def allow_late_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--allow-late",
        action="store_true",
        help="accept a time in the past (published at the next run, within MAX_LATENESS_SECONDS)",
    )
