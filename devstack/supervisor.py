"""The local stack's processes: start them with their output relayed as short lines, notice one
that dies, and stop every one of them (newest first, so the database stops last)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from common.entrypoints.local_stack import parent_death_signal
from devstack.processes import stop_all


class Supervisor:
    """The processes of the local stack; stop() ends every one of them."""

    def __init__(self, cwd: Path, log: IO[str]) -> None:
        self._cwd = cwd
        self._log = log
        self._procs: list[subprocess.Popen[str]] = []
        self.stopping = threading.Event()

    def start(self, name: str, command: list[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            command,
            cwd=self._cwd,
            env=dict(env),
            text=True,
            # Its own process group, so stop() reaches the workers it forks too.
            start_new_session=True,
            # And it stops if this process is killed outright (SIGKILL, the OOM killer). The
            # function makes two system calls and takes no lock another thread could hold.
            preexec_fn=parent_death_signal(),  # noqa: PLW1509
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._procs.append(proc)
        threading.Thread(target=self._relay, args=(name, proc), daemon=True).start()
        return proc

    def adopt(self, proc: subprocess.Popen[str]) -> None:
        """Supervise a process started elsewhere (the database server)."""
        self._procs.append(proc)

    def stop(self) -> None:
        self.stopping.set()
        stop_all(list(reversed(self._procs)))

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True once stop() was called."""
        return self.stopping.wait(seconds)

    def died(self) -> subprocess.Popen[str] | None:
        return next((p for p in self._procs if p.poll() is not None), None)

    def _relay(self, name: str, proc: subprocess.Popen[str]) -> None:
        """Print a line per post outcome and per busy run from the JSON logs, and every error."""
        assert proc.stdout is not None
        # stop() closes the pipe once the process is gone; the relay then ends.
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stdout:
                message = _outcome_line(line) if name in ("run", "publish") else None
                if message is None:
                    message = _error_line(name, line)
                if message is not None:
                    print(message, file=self._log, flush=True)


@contextlib.contextmanager
def stopped_on_exit(supervisor: Supervisor) -> Iterator[None]:
    """SIGTERM (and SIGHUP) end the stack as Ctrl-C does; leaving the block stops it."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        supervisor.stop()


def _json(line: str) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        value = json.loads(line)
        if isinstance(value, dict):
            return value
    return None


def _outcome_line(line: str) -> str | None:
    """A line per post outcome (from a run or the publish function), per run that did work, and
    per tick that handed posts to Cloud Tasks; idle ticks print nothing."""
    entry = _json(line)
    if entry is None:
        return None
    when = f"[{time.strftime('%H:%M:%S')}]"
    message = entry.get("message")
    if message == "post settled":
        detail = entry.get("platformPostId") or entry.get("code") or entry.get("reason") or ""
        again = f", due again {entry['dueAt']}" if entry.get("dueAt") else ""
        return (
            f"{when} post {entry.get('postId')} ({entry.get('platform')}): "
            f"{entry.get('outcome')} {detail}{again}".rstrip()
        )
    if message == "tasks loaded":
        return f"{when} tick: {entry.get('tasksCreated', 0)} posts handed to Cloud Tasks"
    if message == "run finished" and (entry.get("processed") or entry.get("status") != "ok"):
        return (
            f"{when} run {str(entry.get('runId', ''))[:8]} "
            f"({entry.get('trigger')}): {entry.get('published', 0)} published, "
            f"{entry.get('failed', 0)} failed, {entry.get('deferred', 0)} deferred, "
            f"{entry.get('unknown', 0)} unknown in {entry.get('duration', 0)}s"
        )
    return None


def _error_line(name: str, line: str) -> str | None:
    entry = _json(line)
    if entry is not None:
        if entry.get("severity") in ("ERROR", "CRITICAL"):
            return f"[{name}] {entry.get('severity')}: {entry.get('message')}"
        return None
    text = line.rstrip()
    return f"[{name}] {text}" if "Error" in text or "Traceback" in text else None
