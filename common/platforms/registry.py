"""The publishers a deployed run function uses."""

from __future__ import annotations

from common.config import Settings
from common.platforms.base import Registry


def default_registry(settings: Settings) -> Registry:
    """The registry of the deployed functions (the Graph API adapters come with issue 3)."""
    return Registry()
