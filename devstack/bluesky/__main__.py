"""Run the Bluesky sandbox on a loopback port until interrupted."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from devstack import journal
from devstack.bluesky.app import BlueskyApp


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.bluesky")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--state-file", type=Path, help="keep accounts in this file (journal)")
    args = parser.parse_args()
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    app = BlueskyApp()
    kept = journal.keep(app, args.state_file)
    server = make_server("127.0.0.1", args.port, kept, threaded=True)
    print(f"sandbox: Bluesky PDS on http://127.0.0.1:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
