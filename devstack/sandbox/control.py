"""Start the sandbox as a real process and drive its control surface (tests, bench, dev)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import requests

from devstack.dbserver import free_port

START_TIMEOUT_SECONDS = 20.0


class Sandbox:
    """A client for one running sandbox at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = requests.Session()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(f"{self.url}/_sandbox/{path}", json=body, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def _get(self, path: str) -> dict[str, Any]:
        response = self._http.get(f"{self.url}/_sandbox/{path}", timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        self._post("reset", {})

    def add_account(self, account_id: str, kind: str, token: str, name: str = "") -> None:
        self._post("accounts", {"id": account_id, "kind": kind, "token": token, "name": name})

    def set_faults(self, account_id: str, **faults: object) -> dict[str, Any]:
        return self._post("faults", {"account": account_id, **faults})

    def posts(self) -> list[dict[str, Any]]:
        posts: list[dict[str, Any]] = self._get("posts")["posts"]
        return posts

    def requests(self) -> dict[str, int]:
        counts: dict[str, int] = self._get("stats")["requests"]
        return counts

    def total_requests(self) -> int:
        return sum(self.requests().values())

    def close(self) -> None:
        self._http.close()


@contextlib.contextmanager
def running(app_secret: str | None = None) -> Iterator[Sandbox]:
    """A sandbox process on a free loopback port for the duration of the block."""
    port = free_port()
    command = [sys.executable, "-m", "devstack.sandbox", "--port", str(port)]
    if app_secret:
        command += ["--app-secret", app_secret]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sandbox = Sandbox(f"http://127.0.0.1:{port}")
    try:
        _wait_listening(proc, port)
        yield sandbox
    finally:
        sandbox.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sandbox did not listen on port {port} in time")
