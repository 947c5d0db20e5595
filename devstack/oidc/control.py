"""Start the stand-in OpenID provider as a process, for tests and the local stack."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from devstack.processes import free_port, stop, wait_until_listening


def command(port: int, client_id: str, secret: str, redirect_uri: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "devstack.oidc",
        "--port",
        str(port),
        "--client-id",
        client_id,
        "--client-secret",
        secret,
        "--redirect-uri",
        redirect_uri,
    ]


@contextlib.contextmanager
def running(client_id: str, secret: str, redirect_uri: str) -> Iterator[str]:
    """The provider on a free loopback port for the block; yields its issuer URL."""
    port = free_port()
    proc = subprocess.Popen(
        command(port, client_id, secret, redirect_uri),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(proc, port, "devstack.oidc")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
