"""Starting and stopping the local helper processes (database, sandbox, emulator, functions)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

START_TIMEOUT_SECONDS = 60.0


class StartError(RuntimeError):
    """A helper process exited or did not listen in time."""


# Ports handed out below the kernel's ephemeral range: a port from bind(("127.0.0.1", 0)) comes
# from that range, where every outgoing connection also takes its local port, so between the
# check and the helper's own bind a client socket (ours or another test's) could take it; seen as
# "cloudrun front of run exited with code 1" in full runs. Below the range only another
# listener can collide, and picking at random makes two concurrent callers unlikely to agree.
LOWEST_PORT = 10_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_EPHEMERAL_LOW = 32_768


def ephemeral_low(range_file: Path = EPHEMERAL_RANGE) -> int:
    """The first port the kernel hands out for outgoing connections (Linux's default if unknown)."""
    try:
        return int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LINUX_EPHEMERAL_LOW


def free_port() -> int:
    """A loopback port nobody listens on right now, outside the ephemeral range."""
    high = ephemeral_low()
    if high <= LOWEST_PORT:  # a kernel configured to hand out nearly every port
        return _kernel_port()
    while True:
        port = random.randrange(LOWEST_PORT, high)  # noqa: S311 - spreads callers, not a secret
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _kernel_port() -> int:
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


@contextlib.contextmanager
def listening(
    command: Sequence[str], port: int, name: str, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """`command`, a server told to listen on 127.0.0.1:`port`, running quietly for the block
    (`env`: its whole environment, default ours); yields its URL, stops it after."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening(proc, port, name)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def run_until_interrupted(proc: subprocess.Popen[Any]) -> None:
    """Wait for `proc` until it ends or Ctrl-C comes, then stop it (a server in the
    foreground of a terminal)."""
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], grace_seconds: float = 15.0) -> None:
    """SIGTERM first (the database flushes its file on it), SIGKILL only if it hangs.

    A process started in its own session gets the signals with its whole group, so the
    workers it forked (gunicorn's) end with it.
    """
    stop_all([proc], grace_seconds)


def stop_all(procs: Sequence[subprocess.Popen[Any]], grace_seconds: float = 15.0) -> None:
    """Stop them together: each is sent SIGTERM at once, and whichever outlives the one shared
    grace gets SIGKILL, so a stack of ten processes stops within the grace, not ten of them."""
    for proc in procs:
        if proc.poll() is None:
            _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
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
