"""A stand-in served on a loopback port until interrupted: what every stand-in's
`python -m devstack.<name>` shares."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from devstack.journal import WsgiApp


def serve_until_interrupted(app: WsgiApp, port: int, name: str | None = None) -> None:
    """Serve `app` on 127.0.0.1:`port`, one thread per request; `name` is announced with the
    URL once the port listens."""
    # Keep-alive, as the real services offer: the adapters' connection reuse is part of what
    # the benchmarks measure.
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    server = make_server("127.0.0.1", port, app, threaded=True)
    if name is not None:
        print(f"{name} on http://127.0.0.1:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


def sandbox_arguments(prog: str, port: int) -> argparse.ArgumentParser:
    """The options every network sandbox takes: its port and the journal of its accounts."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--state-file", type=Path, help="keep accounts in this file (journal)")
    return parser
