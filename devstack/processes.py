"""Starting and stopping the local helper processes (database, sandbox, emulator, functions)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

START_TIMEOUT_SECONDS = 60.0


class StartError(RuntimeError):
    """A helper process exited or did not listen in time."""


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def parent_death_signal() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGTERM when the process starting it dies, even
    by SIGKILL (Linux's PR_SET_PDEATHSIG), so a killed supervisor leaves no process behind:
    each child stops as on Ctrl-C (the database flushes its file and frees its lock, gunicorn
    stops its workers). None where Linux's prctl does not exist.

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


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_listening(
    proc: subprocess.Popen[Any], port: int, name: str, timeout: float = START_TIMEOUT_SECONDS
) -> None:
    """Return once 127.0.0.1:port accepts connections; raise if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{name} exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    stop(proc)
    raise StartError(f"{name} did not listen on port {port} within {timeout:g}s")


def stop(proc: subprocess.Popen[Any], grace_seconds: float = 15.0) -> None:
    """SIGTERM first (the database flushes its file on it), SIGKILL only if it hangs.

    A process started in its own session gets the signals with its whole group, so the
    workers it forked (gunicorn's) end with it.
    """
    if proc.poll() is None:
        _signal(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _signal(proc: subprocess.Popen[Any], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
