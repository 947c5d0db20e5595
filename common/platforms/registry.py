"""The publishers the run function and the CLI use."""

from __future__ import annotations

from common.config import Settings
from common.platforms.base import Registry


def default_registry(settings: Settings) -> Registry:
    """Replaced by the Graph API adapters (facebook, instagram) when they land."""
    del settings
    return Registry()
