"""`python -m devstack`: the local stack (what `make run` and `socialsched dev` start)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from common.entrypoints.local_stack import add_options
from devstack import stack
from devstack.processes import StartError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    add_options(parser, port_base, f"the next {len(fields(stack.Ports)) - 1}")
    return parser


def port_base(raw: str) -> int:
    value = int(raw)
    if not 1024 <= value <= 65535 - len(fields(stack.Ports)):
        raise argparse.ArgumentTypeError(f"{raw} is not a port base from 1024 to 65500")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return stack.run(
            tick_seconds=args.tick_seconds,
            data_dir=Path(args.data_dir),
            demo=not args.no_demo,
            port_base=args.port_base,
        )
    except StartError as exc:  # what did not start and why, in one line (no traceback)
        print(f"the local stack did not start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
