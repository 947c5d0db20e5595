"""Start the stand-in OpenID provider as a process, for tests and the local stack."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from devstack.processes import free_port, listening

# The client's secret travels in the environment, never in argv: other users of the machine
# can read argv (ps), and a random secret that starts with "-" reads as an option to argparse.
SECRET_VARIABLE = "OIDC_CLIENT_SECRET"  # noqa: S105 (the name of a variable, not a secret)


def command(port: int, client_id: str, redirect_uri: str) -> list[str]:
    """The provider's command line; the client's secret goes in SECRET_VARIABLE."""
    return [
        sys.executable,
        "-m",
        "devstack.oidc",
        "--port",
        str(port),
        "--client-id",
        client_id,
        "--redirect-uri",
        redirect_uri,
    ]


@contextlib.contextmanager
def running(client_id: str, secret: str, redirect_uri: str) -> Iterator[str]:
    """The provider on a free loopback port for the block; yields its issuer URL."""
    port = free_port()
    environment = {**os.environ, SECRET_VARIABLE: secret}
    with listening(
        command(port, client_id, redirect_uri), port, "devstack.oidc", environment
    ) as url:
        yield url
