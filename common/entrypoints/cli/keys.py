"""`socialsched keys ...`: API keys for the api function (on the database itself)."""

from __future__ import annotations

import argparse
from typing import Any

from common import apikeys
from common.entrypoints.cli.backend import Backend
from common.entrypoints.cli.output import EXIT_OK, command_group, emit


def cmd_create(args: argparse.Namespace, backend: Backend) -> int:
    made = backend.create_key(args.name, args.scope, args.account or None)
    text = (
        f"key {made['id']} ({', '.join(made['scopes'])}):\n{made['key']}\n"
        "Store it now: it is shown only once and kept only as a hash."
    )
    warnings = [f"warning: {w}" for w in made.get("warnings", ())]
    emit(args, made, "\n".join([text, *warnings]))
    return EXIT_OK


def cmd_list(args: argparse.Namespace, backend: Backend) -> int:
    rows = backend.list_keys()
    lines = [
        f"{r['id']:<16}  {'revoked' if r['revokedAt'] else 'live':<7}  "
        f"{','.join(r['scopes']):<30}  {r['name']}"
        + (f"  accounts: {','.join(r['accounts'])}" if r["accounts"] else "")
        for r in rows
    ]
    emit(args, rows, "\n".join(lines) or "no keys")
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace, backend: Backend) -> int:
    revoked = backend.revoke_key(args.id)
    emit(args, revoked, f"key {args.id} revoked")
    return EXIT_OK


def register(sub: Any) -> None:
    keys_sub = command_group(sub, "keys", "API keys for the api function")
    create = keys_sub.add_parser("create", help="make a key; it is printed once")
    create.add_argument("--name", required=True, help="who or what uses it")
    create.add_argument(
        "--scope", action="append", required=True, choices=apikeys.SCOPES, help="repeat for more"
    )
    create.add_argument(
        "--account", action="append", default=[], help="limit the key to this account; repeat"
    )
    create.set_defaults(handler=cmd_create)
    keys_sub.add_parser(
        "list", help="the keys, their scopes and use (never the secrets)"
    ).set_defaults(handler=cmd_list)
    revoke = keys_sub.add_parser("revoke", help="stop a key working at once")
    revoke.add_argument("id")
    revoke.set_defaults(handler=cmd_revoke)
