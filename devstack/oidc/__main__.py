"""Run the stand-in OpenID provider on a loopback port until interrupted."""

from __future__ import annotations

import argparse
import os

from devstack.loopback import serve_until_interrupted
from devstack.oidc.app import Client, OidcApp
from devstack.oidc.control import SECRET_VARIABLE


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.oidc")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--redirect-uri", action="append", required=True)
    args = parser.parse_args()
    secret = os.environ.get(SECRET_VARIABLE)
    if not secret:
        parser.error(f"set the client's secret in {SECRET_VARIABLE}")
    issuer = f"http://127.0.0.1:{args.port}"
    client = Client(args.client_id, secret, tuple(args.redirect_uri))
    serve_until_interrupted(OidcApp(issuer, (client,)), args.port, "stand-in OpenID provider")


if __name__ == "__main__":
    main()
