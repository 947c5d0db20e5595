"""The `socialsched` command: operate the scheduler against the configured MongoDB, or, with
SOCIALSCHED_API_URL and SOCIALSCHED_API_KEY set, through the api function (the laptop then
needs no database URI and no token key).

Exit codes: 0 ok, 1 operational failure (database, platform), 2 usage error (bad arguments or
configuration). `--json` prints machine-readable output for scripts.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pymongo.errors import PyMongoError

from common import clock, logs
from common.clock import TimeError
from common.config import ConfigError, load_remote
from common.db import DatabaseUnavailableError, describe_failure
from common.entrypoints.api_client import RUN_TIMEOUT_SECONDS, ApiClient, ApiUnreachable
from common.entrypoints.cli import accounts, admin, dev, importing, keys, media, posts, series
from common.entrypoints.cli.backend import Backend, OperationalError, UsageError
from common.entrypoints.cli.output import EXIT_FAILURE, EXIT_USAGE
from common.entrypoints.cli.remote import Remote

# Every command: (parsed arguments, where it goes) -> exit code.
Handler = Callable[[argparse.Namespace, Backend], int]
GROUPS = (admin, posts, series, accounts, keys, importing, media, dev)


class _Command(argparse.ArgumentParser):
    """Every subcommand also takes the output options, so `posts list --json` works too.

    SUPPRESS keeps a subcommand from resetting what was given before it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
        self.add_argument("--show-tz", default=argparse.SUPPRESS, metavar="ZONE")
        self.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    # The module's first paragraph, whole (its first line alone stops mid-sentence).
    summary = " ".join((__doc__ or "").split("\n\n")[0].split())
    parser = argparse.ArgumentParser(prog="socialsched", description=summary)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--show-tz", metavar="ZONE", help="print times in this IANA zone instead of UTC"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print the log records (JSON lines) on stderr"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Command)
    for group in GROUPS:
        group.register(sub)
    return parser


@contextmanager
def _backend() -> Iterator[Backend]:
    """Remote when SOCIALSCHED_API_URL and SOCIALSCHED_API_KEY are set, else the database."""
    remote = load_remote()
    if remote is None:
        # Imported here: the database's use cases (and the web framework the api's answers
        # come with) cost remote mode about a second at every command.
        from common.entrypoints.cli.direct import Direct  # noqa: PLC0415

        yield Direct()
        return
    client = ApiClient(remote.url, remote.key)
    runner = None
    if remote.run_url is not None:
        # Cloud Run checks the ID token in this header and passes Authorization (the key) on.
        token = remote.run_id_token
        serverless = {} if token is None else {"X-Serverless-Authorization": f"Bearer {token}"}
        runner = ApiClient(remote.run_url, remote.key, serverless, RUN_TIMEOUT_SECONDS)
    try:
        yield Remote(client, remote.status_url, runner)
    finally:
        client.close()
        if runner is not None:
            runner.close()


def _log_records(verbose: bool) -> None:
    """Log records go to stderr as JSON with --verbose, and nowhere otherwise: the command's
    own answer says what happened. (Without a handler, Python prints a bare warning such as
    "xrpc error" on stderr, which says nothing to a person.)"""
    if verbose:
        logs.configure(logging.INFO, sys.stderr)
    else:
        logging.getLogger().addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    _log_records(args.verbose)
    try:
        if args.show_tz is not None:
            clock.zone(args.show_tz)  # an unknown zone is a usage error before anything runs
        with _backend() as backend:
            return handler(args, backend)
    except (ApiUnreachable, DatabaseUnavailableError, OperationalError) as exc:
        print(f"socialsched: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (ConfigError, UsageError, TimeError) as exc:
        print(f"socialsched: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PyMongoError as exc:
        print(f"socialsched: {describe_failure(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
