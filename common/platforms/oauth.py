"""Connecting accounts in a browser: each network's authorization-code flow, behind one seam.

A person is sent to the network's own page (Meta's Login dialog, Threads' authorization
window, a Mastodon instance's authorize page) with our client id, the exact redirect URI and a
state; the network sends them back with a one-time code, which the server exchanges for a
token with the client secret. The token becomes a `Login`, judged by the network's Connector
like any other (common.operations.accounts.connect). Mastodon has no app of ours until one is
registered on each instance (`register`); Meta and Threads use the deployment's app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from common.platforms.base import Login, LoginRefused


@dataclass(frozen=True)
class OAuthClient:
    """Our app on the network (or on one Mastodon instance). Plaintext in memory only."""

    client_id: str
    client_secret: str


@dataclass(frozen=True)
class Callback:
    """Where the network sends the person back, and what our flow remembers of them."""

    redirect_uri: str
    server: str | None = None  # the Mastodon instance


class Authorizer(Protocol):
    network: str
    # True: each server needs its own registered client (Mastodon), kept by the caller.
    registers: bool

    def client(self) -> OAuthClient | LoginRefused:
        """The deployment's app (Meta, Threads); refused when it is not configured."""
        ...

    def register(self, server: str, redirect_uri: str) -> OAuthClient | LoginRefused:
        """Register our app on `server` for this redirect URI (Mastodon)."""
        ...

    def authorize_url(self, client: OAuthClient, callback: Callback, state: str) -> str:
        """The network's page that asks the person, leading back to `callback` with `state`."""
        ...

    def exchange(self, client: OAuthClient, callback: Callback, code: str) -> Login | LoginRefused:
        """The code for a token (server side, with the secret), as a Login for the Connector."""
        ...


def not_registered(network: str) -> LoginRefused:
    return LoginRefused(f"{network} does not register apps per server", unavailable=True)
