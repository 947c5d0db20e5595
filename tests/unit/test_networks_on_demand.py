"""The default registry makes a network's publishers and connector when one is first asked for,
once, even when the run's workers ask at the same moment."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, cast

from cryptography.fernet import Fernet

from common.config import load_settings
from common.model import PLATFORMS
from common.platforms.base import Connector, Publisher
from common.platforms.registry import (
    NETWORK_OF_PLATFORM,
    NetworkParts,
    NetworksOnDemand,
    default_registry,
)


class _Part:
    def __init__(self, platform: str = "", network: str = "", platforms: tuple[str, ...] = ()):
        self.platform, self.network, self.platforms = platform, network, platforms


def _counting_builders(made: Counter[str]) -> dict[str, Any]:
    def builder(network: str) -> Any:
        def build() -> NetworkParts:
            made[network] += 1
            platforms = tuple(p for p, n in NETWORK_OF_PLATFORM.items() if n == network)
            publishers = [cast(Publisher, _Part(platform=p)) for p in platforms]
            return publishers, cast(Connector, _Part(network=network, platforms=platforms))

        return build

    return {network: builder(network) for network in set(NETWORK_OF_PLATFORM.values())}


def test_a_network_is_made_only_when_first_asked_for() -> None:
    made: Counter[str] = Counter()
    registry = NetworksOnDemand(_counting_builders(made))
    assert made == Counter()
    assert registry.networks() == ("bluesky", "mastodon", "meta", "threads")

    assert registry.get("instagram") is not None
    assert registry.get("facebook") is not None
    assert registry.connector_for("facebook") is not None
    assert made == Counter({"meta": 1})

    assert registry.connector("mastodon") is not None
    assert registry.get("nowhere") is None
    assert registry.connector("nowhere") is None
    assert made == Counter({"meta": 1, "mastodon": 1})


def test_workers_asking_at_once_make_a_network_once() -> None:
    made: Counter[str] = Counter()
    registry = NetworksOnDemand(_counting_builders(made))
    start = threading.Barrier(8)
    found: list[object] = []

    def ask() -> None:
        start.wait()
        found.append(registry.get("bluesky"))

    workers = [threading.Thread(target=ask) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert made == Counter({"bluesky": 1})
    assert len(found) == 8 and len({id(publisher) for publisher in found}) == 1


def test_the_default_registry_serves_every_platform_from_its_network() -> None:
    settings = load_settings(
        {
            "MONGO_URI": "mongodb://127.0.0.1:1",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
    )
    registry = default_registry(settings)
    assert set(NETWORK_OF_PLATFORM) == set(PLATFORMS)
    for platform in PLATFORMS:
        publisher, connector = registry.get(platform), registry.connector_for(platform)
        assert publisher is not None and publisher.platform == platform
        assert connector is not None and connector.network == NETWORK_OF_PLATFORM[platform]
