"""`socialsched accounts ...`: connect (add or re-authenticate), add a token, list, check."""

from __future__ import annotations

import argparse
from typing import Any

from common.entrypoints.cli.backend import Backend, ConnectRequest
from common.entrypoints.cli.output import (
    EXIT_FAILURE,
    EXIT_OK,
    command_group,
    emit,
    read_secret,
    table,
    when,
)
from common.operations.accounts import AccountDetails
from common.platforms.base import Login

NETWORKS = ("meta", "threads", "bluesky", "mastodon")


def cmd_add(args: argparse.Namespace, backend: Backend) -> int:
    """Add an account, or re-authenticate an existing one with a new token."""
    details = AccountDetails(args.platform, args.external_id, args.name)
    stored = backend.add_token(args.id, read_secret(args), details)
    if not stored["added"]:
        released = stored["postsReleased"]
        emit(
            args,
            {"id": args.id, "reauthenticated": True, "postsReleased": released},
            f"account {args.id}: new token stored, status active; "
            f"{released} held posts due again now",
        )
        return EXIT_OK
    emit(args, {"id": args.id, "created": True}, f"account {args.id} added")
    return EXIT_OK


def cmd_connect(args: argparse.Namespace, backend: Backend) -> int:
    """Connect the accounts a login grants, or re-authenticate them: the network checks the
    login first (each network's Connector says which fields it needs)."""
    login = Login(
        secret=read_secret(args, "secret (token or app password)"),
        handle=args.handle,
        server=args.instance or args.pds,
        choose=tuple(args.page) or None,
    )
    result = backend.connect(ConnectRequest(args.network, login, args.id))
    lines = [_connected_line(r) for r in result["accounts"]]
    emit(args, result, "\n".join(lines) or "this login grants no accounts")
    return EXIT_OK


def _connected_line(row: Any) -> str:
    if row["added"]:
        done = "added"
    else:
        done = f"new credential, status active; {row['postsReleased']} held posts due again now"
    return f"{row['id']:<24}  {row['platform']:<9}  {row['name']}  {done}"


def cmd_list(args: argparse.Namespace, backend: Backend) -> int:
    rows = backend.list_accounts()
    header = ("id", "platform", "status", "external id", "name")
    cells = [(r["id"], r["platform"], r["status"], r["externalId"], r["name"]) for r in rows]
    emit(args, rows, table(header, cells))
    return EXIT_OK


def cmd_check(args: argparse.Namespace, backend: Backend) -> int:
    results = backend.check_accounts()
    lines = [
        f"{h['accountId']:<20}  {'valid' if h['valid'] else 'INVALID':<8}  "
        f"expires {when(h['expiresAt'], args.show_tz) or 'never'}  "
        f"{h['problem'] or ''}".rstrip()
        for h in results
    ]
    emit(args, results, "\n".join(lines) or "no accounts")
    return EXIT_OK if all(h["valid"] for h in results) else EXIT_FAILURE


def cmd_slots(args: argparse.Namespace, backend: Backend) -> int:
    stored = backend.set_slots(args.account, args.tz, args.slot)
    emit(args, stored, f"{args.account}: {' '.join(stored['slots'])} ({stored['timeZone']})")
    return EXIT_OK


def register(sub: Any) -> None:
    accounts_sub = command_group(sub, "accounts", "connected accounts on every network")
    add = accounts_sub.add_parser(
        "add",
        help="store a Page token as given, unchecked (a new account, or a new token for one); "
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
    add.set_defaults(handler=cmd_add)
    connect = accounts_sub.add_parser(
        "connect",
        help="connect accounts, or re-authenticate them: `meta` (the default) stores the Pages "
        "and linked Instagram accounts of a Meta login (its short-lived user token); `threads` "
        "a long-lived token, `bluesky` a handle + app password, `mastodon` an instance + access "
        "token. Secrets are read from stdin or --token-env and checked with the network before "
        "they are stored",
    )
    connect.add_argument("network", nargs="?", default="meta", choices=NETWORKS)
    connect.add_argument("--page", action="append", default=[], help="meta: only this Page id")
    connect.add_argument("--id", help="your name for the account (a login that grants one account)")
    connect.add_argument("--handle", help="Bluesky: e.g. alice.bsky.social")
    connect.add_argument("--pds", help="Bluesky: the PDS URL (default https://bsky.social)")
    connect.add_argument("--instance", help="Mastodon: e.g. https://mastodon.social")
    connect.add_argument("--token-env", help="read the secret from this environment variable")
    connect.set_defaults(handler=cmd_connect)
    accounts_sub.add_parser("list", help="the connected accounts and their state").set_defaults(
        handler=cmd_list
    )
    accounts_sub.add_parser(
        "check", help="validate every account's credential with its network"
    ).set_defaults(handler=cmd_check)
    slots = accounts_sub.add_parser(
        "slots", help="set an account's weekly posting slots (posts add --at queue fills them)"
    )
    slots.add_argument("account")
    slots.add_argument("--tz", required=True, help="IANA zone of the slots, e.g. Europe/Berlin")
    slots.add_argument(
        "--slot", action="append", required=True, help="weekday@HH:MM, e.g. mon@09:00; repeat"
    )
    slots.set_defaults(handler=cmd_slots)
