"""`socialsched dev`: the whole stack on this machine (what `make run` does)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from common.entrypoints import local_stack
from common.entrypoints.cli.backend import Backend, UsageError


def cmd_dev(args: argparse.Namespace, backend: Backend) -> int:
    del backend  # the stack starts and configures its own database
    try:
        return local_stack.run(
            args.tick_seconds, Path(args.data_dir), demo=not args.no_demo, port_base=args.port_base
        )
    except local_stack.NotACloneError as exc:
        raise UsageError(str(exc)) from exc


def register(sub: Any) -> None:
    dev = sub.add_parser("dev", help="run the whole stack locally (what `make run` does)")
    local_stack.add_options(dev)
    dev.set_defaults(handler=cmd_dev)
