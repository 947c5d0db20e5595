"""The publishers and connectors a deployment uses, configured from settings (the run function,
the api and the CLI call this)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from common import accounts
from common.clock import utcnow
from common.config import Settings
from common.db import get_database
from common.platforms.base import Connector, Publisher, Registry
from common.tokens import TokenCipher

if TYPE_CHECKING:
    from common.platforms.bluesky.sessions import SessionKeeper
    from common.platforms.meta.graph import GraphClient
    from common.platforms.meta.permalink import PermalinkReader
    from common.platforms.oauth import Authorizer

# What a network brings: its publishers (one per platform it serves) and its connector.
NetworkParts = tuple[Sequence[Publisher], Connector]
NETWORK_OF_PLATFORM = {
    "facebook": "meta",
    "instagram": "meta",
    "threads": "threads",
    "bluesky": "bluesky",
    "mastodon": "mastodon",
}


class NetworksOnDemand(Registry):
    """A Registry that makes a network's publishers and connector the first time one of them is
    asked for, so an instance loads only the networks it serves: a tick with nothing due loads
    none, a Cloud Task loads its post's network (a cold start spends its CPU on imports)."""

    def __init__(self, builders: Mapping[str, Callable[[], NetworkParts]]) -> None:
        super().__init__()
        self._builders = dict(builders)
        self._lock = threading.Lock()  # the run's workers may ask for one network at once

    def _load(self, network: str | None) -> None:
        with self._lock:
            build = self._builders.pop(network or "", None)
            if build is None:
                return
            publishers, connector = build()
            for publisher in publishers:
                self.register(publisher)
            self.register_connector(connector)

    def get(self, platform: str) -> Publisher | None:
        self._load(NETWORK_OF_PLATFORM.get(platform))
        return super().get(platform)

    def connector(self, network: str) -> Connector | None:
        self._load(network)
        return super().connector(network)

    def connector_for(self, platform: str) -> Connector | None:
        self._load(NETWORK_OF_PLATFORM.get(platform))
        return super().connector_for(platform)

    def networks(self) -> tuple[str, ...]:
        return tuple(sorted(set(NETWORK_OF_PLATFORM.values())))


def default_registry(settings: Settings) -> Registry:
    """Facebook and Instagram on one Graph API session; Bluesky with its sessions kept on the
    accounts (encrypted); Mastodon on each account's instance; Threads on graph.threads.net.
    Each network's connector shares its publishers' client (and Bluesky's kept sessions).

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY holds a malformed key (at once, not when a
    network is first used)."""
    cipher = TokenCipher.from_settings(settings)
    return NetworksOnDemand(
        {
            "meta": lambda: _meta(settings, cipher),
            "threads": lambda: _threads(settings, cipher),
            "bluesky": lambda: _bluesky(settings, cipher),
            "mastodon": lambda: _mastodon(settings, cipher),
        }
    )


# Each network's modules are imported when the network is first used (see NetworksOnDemand).
def _meta(settings: Settings, cipher: TokenCipher) -> NetworkParts:
    from common.platforms.meta.connector import MetaApp, MetaConnector
    from common.platforms.meta.containers import ContainerPublisher
    from common.platforms.meta.facebook import FacebookPublisher
    from common.platforms.meta.graph import GraphClient
    from common.platforms.meta.instagram import INSTAGRAM

    graph = GraphClient(settings)
    publishers: list[Publisher] = [
        FacebookPublisher(graph, cipher),
        ContainerPublisher(INSTAGRAM, graph, cipher, settings),
    ]
    app = MetaApp(settings.meta_app_id, settings.meta_app_secret)
    return publishers, MetaConnector(graph, cipher, app)


def _threads(settings: Settings, cipher: TokenCipher) -> NetworkParts:
    from common.platforms.meta.containers import ContainerPublisher
    from common.platforms.threads.connector import ThreadsConnector
    from common.platforms.threads.publisher import THREADS

    threads = threads_client(settings)
    connector = ThreadsConnector(threads, threads_client(settings, versioned=False), cipher)
    return [ContainerPublisher(THREADS, threads, cipher, settings)], connector


def _bluesky(settings: Settings, cipher: TokenCipher) -> NetworkParts:
    from common.platforms.bluesky.connector import BlueskyConnector
    from common.platforms.bluesky.publisher import BlueskyPublisher
    from common.platforms.bluesky.xrpc import XrpcClient
    from common.platforms.media_fetch import MediaFetcher

    xrpc, sessions = XrpcClient(settings), bluesky_sessions(settings, cipher)
    publisher = BlueskyPublisher(xrpc, sessions, MediaFetcher(settings))  # uploads the bytes
    return [publisher], BlueskyConnector(
        xrpc, sessions, cipher, allow_private=settings.private_addresses_allowed
    )


def _mastodon(settings: Settings, cipher: TokenCipher) -> NetworkParts:
    from common.platforms.mastodon.client import MastodonClient
    from common.platforms.mastodon.connector import MastodonConnector
    from common.platforms.mastodon.publisher import MastodonPublisher
    from common.platforms.media_fetch import MediaFetcher

    mastodon = MastodonClient(settings)
    publisher = MastodonPublisher(mastodon, cipher, MediaFetcher(settings))  # uploads the bytes
    return [publisher], MastodonConnector(
        mastodon, cipher, allow_private=settings.private_addresses_allowed
    )


def default_authorizers(settings: Settings) -> dict[str, Authorizer]:
    """The browser flows that connect accounts (the web app): Meta's Login dialog, Threads'
    authorization window, Mastodon's per-instance apps. Bluesky has none: an app password."""
    from common.platforms.mastodon.apps import MastodonAuthorizer
    from common.platforms.mastodon.client import MastodonClient
    from common.platforms.meta.connector import MetaApp
    from common.platforms.meta.graph import GraphClient
    from common.platforms.meta.login_dialog import MetaAuthorizer
    from common.platforms.threads.authorization import ThreadsAuthorizer

    meta = MetaApp(settings.meta_app_id, settings.meta_app_secret)
    found: list[Authorizer] = [
        MetaAuthorizer(
            GraphClient(settings),
            meta,
            settings.meta_dialog_url,
            settings.meta_api_version,
            settings.meta_login_config_id,
        ),
        ThreadsAuthorizer(
            threads_client(settings, versioned=False),
            settings.threads_authorize_url,
            settings.threads_app_id,
            settings.threads_app_secret,
        ),
        MastodonAuthorizer(
            MastodonClient(settings),
            settings.web_base_url,
            allow_private=settings.private_addresses_allowed,
        ),
    ]
    return {a.network: a for a in found}


def permalink_reader(settings: Settings) -> PermalinkReader:
    """Reads Instagram and Threads posts' permalinks (the web app's proof page)."""
    from common.platforms.meta.graph import GraphClient
    from common.platforms.meta.permalink import PermalinkReader

    cipher = TokenCipher.from_settings(settings)
    return PermalinkReader(GraphClient(settings), threads_client(settings), cipher)


def threads_client(settings: Settings, *, versioned: bool = True) -> GraphClient:
    """Meta's client on graph.threads.net (its token refresh is the one unversioned call)."""
    from common.platforms.meta.graph import GraphClient

    version = settings.threads_api_version if versioned else ""
    return GraphClient(settings, host=settings.threads_graph_url, version=version, sign=False)


def bluesky_sessions(settings: Settings, cipher: TokenCipher) -> SessionKeeper:
    """Sessions saved on the account, so the next instance does not log in again."""
    from common.platforms.bluesky.sessions import SessionKeeper
    from common.platforms.bluesky.xrpc import XrpcClient

    def save(account_id: str, session_ciphertext: str) -> None:
        accounts.store_session(get_database(settings), account_id, session_ciphertext, utcnow())

    return SessionKeeper(XrpcClient(settings), cipher, save, utcnow)
