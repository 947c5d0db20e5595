"""The publishers a run uses, configured from settings (the run function and the CLI call this)."""

from __future__ import annotations

from common.config import Settings
from common.platforms.base import Registry
from common.platforms.meta.facebook import FacebookPublisher
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.instagram import InstagramPublisher
from common.tokens import TokenCipher


def default_registry(settings: Settings) -> Registry:
    """Facebook and Instagram on one Graph API session.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY holds a malformed key."""
    client = GraphClient(settings)
    cipher = TokenCipher.from_settings(settings)
    return Registry(
        [FacebookPublisher(client, cipher), InstagramPublisher(client, cipher, settings)]
    )
