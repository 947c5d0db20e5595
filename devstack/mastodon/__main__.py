"""Run the Mastodon sandbox on a loopback port until interrupted."""

from __future__ import annotations

from devstack import journal
from devstack.loopback import sandbox_arguments, serve_until_interrupted
from devstack.mastodon.app import MastodonApp


def main() -> None:
    args = sandbox_arguments("python -m devstack.mastodon", 8091).parse_args()
    app = journal.keep(MastodonApp(), args.state_file)
    serve_until_interrupted(app, args.port, "sandbox: Mastodon")


if __name__ == "__main__":
    main()
