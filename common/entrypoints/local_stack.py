"""`socialsched dev`: start the local stack (`python -m devstack`) of the clone this package runs
from. devstack is not part of the package (neither the wheel nor the functions' archives hold
it), so it runs as a child process from the repository's root, never as an import."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# common/entrypoints/local_stack.py -> the directory that holds `common` (a clone's root).
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
NOT_A_CLONE = (
    "socialsched dev runs the local stack from a clone of the repository: run `make run` there"
)


class NotACloneError(RuntimeError):
    """This installation has no devstack/ beside it (an installed wheel)."""


def clone_root() -> Path:
    if not (PACKAGE_PARENT / "devstack" / "__main__.py").is_file():
        raise NotACloneError(NOT_A_CLONE)
    return PACKAGE_PARENT


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def parent_death_signal() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGTERM when the process starting it dies, even
    by SIGKILL (Linux's PR_SET_PDEATHSIG), so a killed supervisor leaves no process behind:
    each child stops as on Ctrl-C (the database flushes its file and frees its lock, gunicorn
    stops its workers). None where Linux's prctl does not exist. Every process of the local
    stack is started with it, from `socialsched dev` down (devstack.processes).

    libc is loaded here, before the fork: the child only makes two system calls.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call: nobody would signal us
            os.kill(os.getpid(), signal.SIGTERM)

    return die_with_parent


def add_options(
    parser: argparse.ArgumentParser,
    port_base: Callable[[str], int] = int,
    next_ports: str = "the next ones",
) -> None:
    """The local stack's options, alike in `socialsched dev` and in `python -m devstack`, which
    the first passes them to (and which alone knows how many ports it takes: `port_base`
    checks it, `next_ports` says it)."""
    parser.add_argument(
        "--tick-seconds",
        type=float,
        default=60.0,
        help="seconds between ticks (default 60, as Cloud Scheduler)",
    )
    parser.add_argument("--data-dir", default=".data", help="where the local database lives")
    parser.add_argument("--no-demo", action="store_true", help="do not add demo accounts and posts")
    parser.add_argument(
        "--port-base",
        type=port_base,
        help=f"listen on this port and {next_ports} (default: free ports, new at each start)",
    )


def run(tick_seconds: float, data_dir: Path, demo: bool, port_base: int | None = None) -> int:
    """The stack's exit code; Ctrl-C and SIGTERM reach it once, and it stops its processes."""
    command = [
        sys.executable,
        "-m",
        "devstack",
        "--tick-seconds",
        str(tick_seconds),
        # The child runs from the clone's root: a relative directory means the caller's.
        "--data-dir",
        str(data_dir.resolve()),
        *([] if demo else ["--no-demo"]),
        *([] if port_base is None else ["--port-base", str(port_base)]),
    ]
    root = clone_root()
    # Its own session, so a Ctrl-C in the terminal reaches it through us exactly once; and it
    # stops its processes when we die, even by SIGKILL (then nobody would forward a signal).
    child = subprocess.Popen(
        command,
        cwd=root,
        start_new_session=True,
        preexec_fn=parent_death_signal(),  # noqa: PLW1509 (two system calls, no lock taken)
    )

    def forward(_signum: int, _frame: object) -> None:
        child.send_signal(signal.SIGINT)

    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in stopping}
    try:
        return child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
