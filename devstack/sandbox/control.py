"""Start the sandbox as a real process and drive its control surface (tests, bench, dev)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import requests

from devstack.processes import free_port, stop, wait_until_listening


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

    def add_account(
        self, account_id: str, kind: str, token: str, name: str = "", page: str | None = None
    ) -> None:
        """A Page or an Instagram account (`page`: the Page it is linked to)."""
        body = {"id": account_id, "kind": kind, "token": token, "name": name, "page": page}
        self._post("accounts", body)

    def add_user(self, short_token: str, pages: list[str]) -> None:
        """A user who logged in with `short_token` and manages `pages` (for accounts connect)."""
        self._post("users", {"token": short_token, "pages": pages})

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
        wait_until_listening(proc, port, "sandbox")
        yield sandbox
    finally:
        sandbox.close()
        stop(proc)
