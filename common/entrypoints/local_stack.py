"""`socialsched dev`: start the local stack (`python -m devstack`) of the clone this package runs
from. devstack is not part of the package (neither the wheel nor the functions' archives hold
it), so it runs as a child process from the repository's root, never as an import."""

from __future__ import annotations

import signal
import subprocess
import sys
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
    # Its own session, so a Ctrl-C in the terminal reaches it through us exactly once.
    child = subprocess.Popen(command, cwd=root, start_new_session=True)

    def forward(_signum: int, _frame: object) -> None:
        child.send_signal(signal.SIGINT)

    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in stopping}
    try:
        return child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
