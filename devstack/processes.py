"""Starting and stopping the local helper processes (database, sandbox, emulator, functions)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from typing import Any

START_TIMEOUT_SECONDS = 60.0


class StartError(RuntimeError):
    """A helper process exited or did not listen in time."""


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
