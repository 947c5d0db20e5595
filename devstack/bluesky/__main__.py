"""Run the Bluesky sandbox on a loopback port until interrupted."""

from __future__ import annotations

from devstack import journal
from devstack.bluesky.app import BlueskyApp
from devstack.loopback import sandbox_arguments, serve_until_interrupted


def main() -> None:
    args = sandbox_arguments("python -m devstack.bluesky", 8090).parse_args()
    app = journal.keep(BlueskyApp(), args.state_file)
    serve_until_interrupted(app, args.port, "sandbox: Bluesky PDS")


if __name__ == "__main__":
    main()
