"""Run the stand-in OpenID provider on a loopback port until interrupted."""

from __future__ import annotations

import argparse
import contextlib

from werkzeug.serving import WSGIRequestHandler, make_server

from devstack.oidc.app import Client, OidcApp


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.oidc")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", action="append", required=True)
    args = parser.parse_args()
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    issuer = f"http://127.0.0.1:{args.port}"
    client = Client(args.client_id, args.client_secret, tuple(args.redirect_uri))
    server = make_server("127.0.0.1", args.port, OidcApp(issuer, (client,)), threaded=True)
    print(f"stand-in OpenID provider on {issuer}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
