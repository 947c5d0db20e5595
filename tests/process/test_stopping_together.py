"""The local stack stops its processes together: every one is sent SIGTERM before any is waited
for, so the stop takes one grace period, not one per process (ten of them under load)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from devstack.processes import stop_all

# Told to stop, it waits (up to 20 s) for its sibling to be told too, and says whether it was.
WAITS_FOR_ITS_SIBLING = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    own, sibling = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])

    def stopped(signum, frame):
        own.write_text("told")
        deadline = time.monotonic() + 20
        while not sibling.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        own.write_text("together" if sibling.exists() else "alone")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stopped)
    print("ready", flush=True)
    while True:
        time.sleep(1)
    """
)


def _started(own: Path, sibling: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WAITS_FOR_ITS_SIBLING, str(own), str(sibling)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_every_process_is_told_to_stop_before_any_is_waited_for(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    procs = [_started(first, second), _started(second, first)]
    stop_all(procs, grace_seconds=60)
    assert [p.returncode for p in procs] == [0, 0]  # each ended on its own, none killed
    assert (first.read_text(), second.read_text()) == ("together", "together")
