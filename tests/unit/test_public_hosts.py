"""The server calls an address a person names (media URL, Mastodon instance, Bluesky PDS) only
when it is public, unless PRIVATE_ADDRESSES_ALLOWED is on (the local stack)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from common.config import Settings, load_settings
from common.platforms import public_hosts
from common.platforms.base import Login, LoginRefused
from common.platforms.registry import default_authorizers, default_registry

ADDRESSES = {
    "example.org": ["93.184.215.14"],
    "metadata.google.internal": ["169.254.169.254"],
    "intranet.example": ["10.0.0.7"],
    "mixed.example": ["93.184.215.14", "192.168.1.1"],
    "v6.example": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "v6-local.example": ["fe80::1%eth0"],
}


def _resolve(host: str) -> list[str]:
    if host not in ADDRESSES:
        raise OSError("no such host")
    return ADDRESSES[host]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://example.org/a.jpg", None),
        ("https://v6.example/", None),
        ("http://example.org/a.jpg", "must be https"),
        ("ftp://example.org/a.jpg", "not an http(s) URL"),
        ("https://metadata.google.internal/computeMetadata/v1/", "not on the public internet"),
        ("https://intranet.example/", "not on the public internet"),
        ("https://mixed.example/", "not on the public internet"),
        ("https://v6-local.example/", "not on the public internet"),
        ("https://nowhere.example/", "does not resolve"),
    ],
)
def test_only_public_https_addresses_are_called(url: str, why: str | None) -> None:
    found = public_hosts.refusal(url, allow_private=False, resolve=_resolve)
    assert found is None if why is None else why in (found or "")


def test_the_local_stack_may_call_loopback() -> None:
    refusal = public_hosts.refusal("http://127.0.0.1:8080/", allow_private=True, resolve=_resolve)
    assert refusal is None


def _settings(private: str) -> Settings:
    return load_settings(
        {
            "MONGO_URI": "mongodb://127.0.0.1:1",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "PRIVATE_ADDRESSES_ALLOWED": private,
            "WEB_BASE_URL": "https://web.example",
        }
    )


@pytest.mark.parametrize(
    ("network", "login"),
    [
        ("mastodon", Login(secret="token", server="https://localhost")),
        ("bluesky", Login(secret="abcd-efgh-ijkl-mnop", server="https://localhost", handle="a.b")),
    ],
)
def test_a_login_naming_a_private_server_is_refused_before_any_call(
    network: str, login: Login
) -> None:
    registry = default_registry(_settings("off"))
    connector = registry.connector(network)
    assert connector is not None
    refused = connector.verify(login, datetime(2027, 1, 1, tzinfo=UTC))
    assert isinstance(refused, LoginRefused)
    assert "not on the public internet" in refused.reason


def test_a_mastodon_app_is_not_registered_on_a_private_instance() -> None:
    authorizer = default_authorizers(_settings("off"))["mastodon"]
    refused = authorizer.register("https://localhost", "https://web.example/connect/callback")
    assert isinstance(refused, LoginRefused)
    assert "not on the public internet" in refused.reason
