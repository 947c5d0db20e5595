"""Fetch, build and start the MongoDB wire-protocol server used by tests and local runs.

The server is mongo-java-server (Maven Central) behind the tiny launcher in
tools/mongo-server/. No Docker: Maven fetches the jars once, javac compiles the launcher once,
and every start is one `java` process bound to 127.0.0.1.

    python -m devstack.dbserver run [--data FILE] [--short-run] -- CMD ...
        start, run CMD with MONGO_URI, stop (--short-run: a test session, see start)
    python -m devstack.dbserver serve [--port N] [--data FILE]   start and wait for Ctrl-C
    python -m devstack.dbserver fetch                             only fetch and compile
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from common.entrypoints.local_stack import parent_death_signal
from devstack.processes import (
    StartError,
    free_port,
    run_until_interrupted,
    stop,
    wait_until_listening,
)

ROOT = Path(__file__).resolve().parent.parent
TOOL_DIR = ROOT / "tools" / "mongo-server"
LIB_DIR = TOOL_DIR / "lib"
BUILD_DIR = TOOL_DIR / "build"
LAUNCHER = "MongoServerLauncher"


class DbServerError(StartError):
    """The database server could not be fetched, built or started."""


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise DbServerError(f"`{tool}` is not on PATH; install a JDK 17+ and Maven")
    return path


def ensure_built() -> None:
    """Fetch the jars and compile the launcher when they are missing (idempotent)."""
    if not any(LIB_DIR.glob("mongo-java-server-core-*.jar")):
        subprocess.run(
            [
                _require("mvn"),
                "-q",
                "-B",
                "-f",
                str(TOOL_DIR / "pom.xml"),
                "dependency:copy-dependencies",
            ],
            check=True,
        )
    launcher_class = BUILD_DIR / f"{LAUNCHER}.class"
    source = TOOL_DIR / f"{LAUNCHER}.java"
    if not launcher_class.exists() or launcher_class.stat().st_mtime < source.stat().st_mtime:
        BUILD_DIR.mkdir(exist_ok=True)
        subprocess.run(
            [_require("javac"), "-cp", f"{LIB_DIR}/*", "-d", str(BUILD_DIR), str(source)],
            check=True,
        )


def start(
    port: int, data_file: Path | None = None, *, short_run: bool = False
) -> subprocess.Popen[str]:
    """Start the server and return once it accepts connections (see launch)."""
    proc = launch(port, data_file, short_run=short_run)
    wait_until_listening(proc, port, "database server")
    return proc


def launch(
    port: int, data_file: Path | None = None, *, short_run: bool = False
) -> subprocess.Popen[str]:
    """Start the server without waiting for it to listen (wait_until_listening does).

    A short run (a test session) compiles with C1 only: in a run of seconds to minutes the C2
    compiler's threads cost more CPU than its code saves (make test-fast: the server's CPU
    11 s -> 4 s, on 2 cores beside the tests). A long run (make run, the benches) keeps C2.
    """
    ensure_built()
    jit = ["-XX:TieredStopAtLevel=1"] if short_run else []
    classpath = f"{BUILD_DIR}:{LIB_DIR}/*"
    args = [_require("java"), "-Xss1m", *jit, "-cp", classpath, LAUNCHER, str(port)]
    if data_file is not None:
        data_file.parent.mkdir(parents=True, exist_ok=True)
        args.append(str(data_file))
        _refuse_if_locked(data_file)
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # It flushes its file and frees the lock on SIGTERM, also when its starter was killed.
        preexec_fn=parent_death_signal(),  # noqa: PLW1509 (two system calls, no lock taken)
    )
    return proc


def _refuse_if_locked(data_file: Path) -> None:
    """One line instead of H2's "file is locked" traceback: who holds the file, how to free it."""
    holder = lock_holder(data_file)
    if holder is not None:
        raise DbServerError(
            f"{data_file} is locked by process {holder} ({_command_of(holder)}), probably a "
            f"local stack still running: stop it (Ctrl-C there, or `kill {holder}`) and start again"
        )


def lock_holder(path: Path) -> int | None:
    """The process holding a POSIX lock on the file (H2 locks its file so; Java's
    FileChannel.tryLock is fcntl on Linux), from /proc/locks; None if unlocked or not Linux."""
    try:
        stat = path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a "->" marks a blocked waiter)
        if len(fields) >= 6 and fields[1] != "->" and fields[5] == device:
            return int(fields[4])
    return None


def _command_of(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone since"
    return " ".join(w.decode(errors="replace") for w in words if w)[:80]


@contextlib.contextmanager
def running(data_file: Path | None = None, *, short_run: bool = False) -> Iterator[str]:
    """A started server for the duration of the block; yields its MONGO_URI."""
    port = free_port()
    proc = start(port, data_file, short_run=short_run)
    try:
        yield f"mongodb://127.0.0.1:{port}/"
    finally:
        stop(proc)


def _run(command: list[str], data_file: Path | None, short_run: bool) -> int:
    if os.environ.get("MONGO_URI"):
        return subprocess.call(command)
    with running(data_file, short_run=short_run) as uri:
        print(f"dbserver: mongo-java-server on {uri}", flush=True)
        # The child gets our signals too; we only need to outlive it and then stop the server.
        with contextlib.suppress(KeyboardInterrupt):
            return subprocess.call(command, env={**os.environ, "MONGO_URI": uri})
    return 130


def _serve(port: int, data_file: Path | None) -> int:
    proc = start(port, data_file)
    print(f"dbserver: listening on mongodb://127.0.0.1:{port}/", flush=True)
    run_until_interrupted(proc)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.dbserver")
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="start a server, run a command with MONGO_URI, stop")
    run.add_argument("--data", type=Path, help="H2 data file (default: in memory)")
    run.add_argument(
        "--short-run", action="store_true", help="a test session: C1 compiler only (less CPU)"
    )
    run.add_argument("command", nargs=argparse.REMAINDER)
    serve = sub.add_parser("serve", help="start a server and wait for Ctrl-C")
    serve.add_argument("--port", type=int, default=27017)
    serve.add_argument("--data", type=Path)
    sub.add_parser("fetch", help="fetch the jars and compile the launcher")
    args = parser.parse_args(argv)
    try:
        if args.action == "fetch":
            ensure_built()
            return 0
        if args.action == "serve":
            return _serve(args.port, args.data)
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run needs a command after --")
        return _run(command, args.data, args.short_run)
    except (DbServerError, subprocess.CalledProcessError) as exc:
        print(f"dbserver: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
