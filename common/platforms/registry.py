"""The publishers and connectors a deployment uses, configured from settings (the run function,
the api and the CLI call this)."""

from __future__ import annotations

from common import accounts
from common.clock import utcnow
from common.config import Settings
from common.db import get_database
from common.platforms.base import Connector, Publisher, Registry
from common.platforms.bluesky.connector import BlueskyConnector
from common.platforms.bluesky.publisher import BlueskyPublisher
from common.platforms.bluesky.sessions import SessionKeeper
from common.platforms.bluesky.xrpc import XrpcClient
from common.platforms.mastodon.apps import MastodonAuthorizer
from common.platforms.mastodon.client import MastodonClient
from common.platforms.mastodon.connector import MastodonConnector
from common.platforms.mastodon.publisher import MastodonPublisher
from common.platforms.media_fetch import MediaFetcher
from common.platforms.meta.connector import MetaApp, MetaConnector
from common.platforms.meta.containers import ContainerPublisher
from common.platforms.meta.facebook import FacebookPublisher
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.instagram import INSTAGRAM
from common.platforms.meta.login_dialog import MetaAuthorizer
from common.platforms.oauth import Authorizer
from common.platforms.threads.authorization import ThreadsAuthorizer
from common.platforms.threads.connector import ThreadsConnector
from common.platforms.threads.publisher import THREADS
from common.tokens import TokenCipher


def default_registry(settings: Settings) -> Registry:
    """Facebook and Instagram on one Graph API session; Bluesky with its sessions kept on the
    accounts (encrypted); Mastodon on each account's instance; Threads on graph.threads.net.
    Each network's connector shares its publishers' client (and Bluesky's kept sessions).

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY holds a malformed key."""
    cipher = TokenCipher.from_settings(settings)
    graph, threads = GraphClient(settings), threads_client(settings)
    xrpc, mastodon = XrpcClient(settings), MastodonClient(settings)
    sessions = bluesky_sessions(settings, cipher)
    media = MediaFetcher(settings)  # the bytes Bluesky and Mastodon upload themselves
    publishers: list[Publisher] = [
        FacebookPublisher(graph, cipher),
        ContainerPublisher(INSTAGRAM, graph, cipher, settings),
        BlueskyPublisher(xrpc, sessions, media),
        MastodonPublisher(mastodon, cipher, media),
        ContainerPublisher(THREADS, threads, cipher, settings),
    ]
    connectors: list[Connector] = [
        MetaConnector(graph, cipher, MetaApp(settings.meta_app_id, settings.meta_app_secret)),
        ThreadsConnector(threads, threads_client(settings, versioned=False), cipher),
        BlueskyConnector(xrpc, sessions, cipher),
        MastodonConnector(mastodon, cipher),
    ]
    return Registry(publishers, connectors)


def default_authorizers(settings: Settings) -> dict[str, Authorizer]:
    """The browser flows that connect accounts (the web app): Meta's Login dialog, Threads'
    authorization window, Mastodon's per-instance apps. Bluesky has none: an app password."""
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
        MastodonAuthorizer(MastodonClient(settings), settings.web_base_url),
    ]
    return {a.network: a for a in found}


def threads_client(settings: Settings, *, versioned: bool = True) -> GraphClient:
    """Meta's client on graph.threads.net (its token refresh is the one unversioned call)."""
    version = settings.threads_api_version if versioned else ""
    return GraphClient(settings, host=settings.threads_graph_url, version=version, sign=False)


def bluesky_sessions(settings: Settings, cipher: TokenCipher) -> SessionKeeper:
    """Sessions saved on the account, so the next instance does not log in again."""

    def save(account_id: str, session_ciphertext: str) -> None:
        accounts.store_session(get_database(settings), account_id, session_ciphertext, utcnow())

    return SessionKeeper(XrpcClient(settings), cipher, save, utcnow)
