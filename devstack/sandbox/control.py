"""Start the sandbox as a real process and drive its control surface (tests, bench, dev)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import requests

from devstack.processes import free_port, listening


class SandboxControl:
    """The control surface every sandbox serves under /_sandbox/ (posts, stats, faults)."""

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

    def set_faults(self, account_id: str, **faults: object) -> dict[str, Any]:
        return self._post("faults", {"account": account_id, **faults})

    def posts(self) -> list[dict[str, Any]]:
        posts: list[dict[str, Any]] = self._get("posts")["posts"]
        return posts

    def containers(self) -> dict[str, dict[str, str]]:
        """Instagram and Threads containers by id: the parameters they were created with."""
        made: dict[str, dict[str, str]] = self._get("containers")["containers"]
        return made

    def requests(self) -> dict[str, int]:
        counts: dict[str, int] = self._get("stats")["requests"]
        return counts

    def total_requests(self) -> int:
        return sum(self.requests().values())

    def image_url(
        self,
        name: str,
        size: int = 1024,
        mime: str = "image/jpeg",
        width: int = 1080,
        height: int = 1080,
    ) -> str:
        """Test media this sandbox serves (and fetches, being on this machine): `size` bytes
        that are `mime` by content (an image of `width` x `height`)."""
        query = f"bytes={size}&type={mime}&width={width}&height={height}"
        return f"{self.url}/_sandbox/media/{name}?{query}"

    def close(self) -> None:
        self._http.close()


class Sandbox(SandboxControl):
    """A client for one running sandbox Graph API at `url`."""

    def add_account(
        self, account_id: str, kind: str, token: str, name: str = "", page: str | None = None
    ) -> None:
        """A Page or an Instagram account (`page`: the Page it is linked to)."""
        body = {"id": account_id, "kind": kind, "token": token, "name": name, "page": page}
        self._post("accounts", body)

    def add_user(self, short_token: str, pages: list[str]) -> None:
        """A user who logged in with `short_token` and manages `pages` (for accounts connect)."""
        self._post("users", {"token": short_token, "pages": pages})

    def add_app(
        self, app_id: str, secret: str, redirect_uris: list[str], kind: str = "facebook"
    ) -> None:
        """A Meta app (`kind` facebook) or a Threads app with its Valid OAuth Redirect URIs:
        the browser flows refuse any other redirect URI."""
        body = {"id": app_id, "secret": secret, "redirectUris": redirect_uris, "kind": kind}
        self._post("apps", body)


class BlueskySandbox(SandboxControl):
    """The Bluesky sandbox (devstack.bluesky): accounts are a handle and an app password."""

    def add_account(self, handle: str, app_password: str) -> str:
        """Returns the account's DID."""
        did: str = self._post("accounts", {"handle": handle, "password": app_password})["did"]
        return did

    def expire_sessions(self, account: str) -> None:
        """Every access JWT the account holds expires now (its refresh JWT still works)."""
        self._post("expire", {"account": account})


class MastodonSandbox(SandboxControl):
    """The Mastodon sandbox (devstack.mastodon): accounts are a username and an access token."""

    def add_account(self, username: str, token: str, scopes: list[str] | None = None) -> str:
        """Returns the account's id on the instance; the token holds `scopes` (by default
        the ones the README tells users to grant)."""
        body: dict[str, Any] = {"username": username, "token": token}
        if scopes is not None:
            body["scopes"] = scopes
        account_id: str = self._post("accounts", body)["id"]
        return account_id

    def configure(self, **sections: dict[str, Any]) -> dict[str, Any]:
        """Set the instance's own limits, as its admin would (`statuses={"max_characters":
        1000}`, `media_attachments={...}`); /api/v2/instance answers them and posts obey them."""
        configuration: dict[str, Any] = self._post("configuration", sections)["configuration"]
        return configuration


@contextlib.contextmanager
def running(app_secret: str | None = None) -> Iterator[Sandbox]:
    """A sandbox Graph API process on a free loopback port for the duration of the block."""
    extra = ["--app-secret", app_secret] if app_secret else []
    with _process("devstack.sandbox", extra) as url:
        sandbox = Sandbox(url)
        try:
            yield sandbox
        finally:
            sandbox.close()


@contextlib.contextmanager
def running_bluesky() -> Iterator[BlueskySandbox]:
    """A Bluesky sandbox process on a free loopback port for the duration of the block."""
    with _process("devstack.bluesky", []) as url:
        sandbox = BlueskySandbox(url)
        try:
            yield sandbox
        finally:
            sandbox.close()


@contextlib.contextmanager
def running_mastodon() -> Iterator[MastodonSandbox]:
    """A Mastodon sandbox process on a free loopback port for the duration of the block."""
    with _process("devstack.mastodon", []) as url:
        sandbox = MastodonSandbox(url)
        try:
            yield sandbox
        finally:
            sandbox.close()


@contextlib.contextmanager
def _process(module: str, extra: list[str]) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", module, "--port", str(port), *extra]
    with listening(command, port, module) as url:
        yield url
