"""Run the sandbox Graph API on a loopback port until interrupted."""

from __future__ import annotations

from devstack import journal
from devstack.loopback import sandbox_arguments, serve_until_interrupted
from devstack.sandbox.app import SandboxApp


def main() -> None:
    parser = sandbox_arguments("python -m devstack.sandbox", 8089)
    parser.add_argument("--app-secret", default=None, help="require appsecret_proof with it")
    args = parser.parse_args()
    app = journal.keep(SandboxApp(args.app_secret), args.state_file)
    serve_until_interrupted(app, args.port, "sandbox: Graph API")


if __name__ == "__main__":
    main()
