"""Build and start the local Pub/Sub emulator (tools/pubsub-emulator, Go's pstest).

No Docker and no gcloud: `go build` fetches the module from the Go proxy once and compiles a
small binary; every start is one process bound to 127.0.0.1. Clients reach it through
PUBSUB_EMULATOR_HOST.

    python -m devstack.pubsub_emulator build            only build
    python -m devstack.pubsub_emulator serve [--port N] start and wait for Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from devstack.processes import free_port, run_until_interrupted, stop

ROOT = Path(__file__).resolve().parent.parent
TOOL_DIR = ROOT / "tools" / "pubsub-emulator"
BINARY = TOOL_DIR / "build" / "pubsub-emulator"


class EmulatorError(RuntimeError):
    """The emulator could not be built or started."""


def ensure_built() -> Path:
    """Compile the emulator when the binary is missing or older than its source."""
    sources = [TOOL_DIR / "main.go", TOOL_DIR / "go.mod", TOOL_DIR / "go.sum"]
    newest = max(path.stat().st_mtime for path in sources)
    if not BINARY.exists() or BINARY.stat().st_mtime < newest:
        go = shutil.which("go")
        if go is None:
            raise EmulatorError("`go` is not on PATH; install Go 1.24+ to build the emulator")
        subprocess.run([go, "build", "-o", str(BINARY), "."], cwd=TOOL_DIR, check=True)
    return BINARY


def start(port: int) -> subprocess.Popen[str]:
    """Start the emulator; return once it has printed that it listens."""
    binary = ensure_built()
    proc = subprocess.Popen(
        [str(binary), "-port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    # The program prints its address only after the listener is bound.
    line = proc.stdout.readline()
    if not line.startswith("listening on"):
        stop(proc)
        raise EmulatorError(f"emulator did not start (exit code {proc.returncode})")
    return proc


@contextlib.contextmanager
def running() -> Iterator[str]:
    """A started emulator for the duration of the block; yields its PUBSUB_EMULATOR_HOST."""
    port = free_port()
    proc = start(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.pubsub_emulator")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("build", help="compile the emulator")
    serve = sub.add_parser("serve", help="start the emulator and wait for Ctrl-C")
    serve.add_argument("--port", type=int, default=8085)
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            ensure_built()
            return 0
        proc = start(args.port)
        print(f"pubsub-emulator: PUBSUB_EMULATOR_HOST=127.0.0.1:{args.port}", flush=True)
        run_until_interrupted(proc)
        return 0
    except (EmulatorError, subprocess.CalledProcessError) as exc:
        print(f"pubsub-emulator: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
