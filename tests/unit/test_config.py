"""Settings: every problem reported at start, secrets never printed, no secret defaults."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from common.config import ConfigError, Settings, load_remote, load_settings


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "LOCK_TTL_SECONDS": "soon",
                "MAX_ATTEMPTS": "0",
                "TOKEN_ENCRYPTION_KEY": "not-a-key",
                "RECONCILE_POLICY": "maybe",
            }
        )
    message = str(caught.value)
    for expected in (
        "MONGO_URI is required",
        "LOCK_TTL_SECONDS must be an integer",
        "MAX_ATTEMPTS must be at least 1",
        "TOKEN_ENCRYPTION_KEY entry 1",
        "RECONCILE_POLICY",
    ):
        assert expected in message
    assert "not-a-key" not in message  # a rejected secret is not echoed


def test_rotation_keys_are_all_checked() -> None:
    good = Fernet.generate_key().decode()
    assert load_settings(
        {"MONGO_URI": "mongodb://x", "TOKEN_ENCRYPTION_KEY": f"{good}, {good}"}
    ).token_encryption_keys == (good, good)
    with pytest.raises(ConfigError, match="entry 2"):
        load_settings({"MONGO_URI": "mongodb://x", "TOKEN_ENCRYPTION_KEY": f"{good},{good[:-4]}"})


def test_secrets_have_no_default_and_stay_out_of_repr() -> None:
    settings = load_settings(
        {
            "MONGO_URI": "mongodb://user:pw@db/",
            "JWT_SECRET": "j" * 40,
            "ADMIN_SECRET_KEY": "k" * 40,
            "META_APP_SECRET": "s" * 20,
        }
    )
    text = repr(settings)
    for secret in ("pw@db", "j" * 40, "k" * 40, "s" * 20):
        assert secret not in text
    bare = load_settings({"MONGO_URI": "mongodb://db/"})
    assert (bare.jwt_secret, bare.admin_secret_key, bare.meta_app_secret) == (None, None, None)
    assert bare.token_encryption_keys == () and not bare.admin_key_enabled
    assert isinstance(bare, Settings)


def test_a_short_admin_key_leaves_key_auth_off() -> None:
    assert not load_settings({"MONGO_URI": "m", "ADMIN_SECRET_KEY": "x" * 31}).admin_key_enabled
    assert load_settings({"MONGO_URI": "m", "ADMIN_SECRET_KEY": "x" * 32}).admin_key_enabled


def test_private_media_urls_are_refused_unless_switched_on() -> None:
    base = {"MONGO_URI": "mongodb://127.0.0.1:1/"}
    assert load_settings(base).private_addresses_allowed is False
    assert load_settings({**base, "PRIVATE_ADDRESSES_ALLOWED": "on"}).private_addresses_allowed
    with pytest.raises(ConfigError, match="PRIVATE_ADDRESSES_ALLOWED must be on or off"):
        load_settings({**base, "PRIVATE_ADDRESSES_ALLOWED": "yes"})


def test_the_run_functions_url_is_https_and_its_id_token_stays_out_of_repr() -> None:
    base = {"SOCIALSCHED_API_URL": "https://api.example.test", "SOCIALSCHED_API_KEY": "sk_a_b"}
    remote = load_remote(
        {
            **base,
            "SOCIALSCHED_RUN_URL": "https://run.example.test",
            "SOCIALSCHED_RUN_ID_TOKEN": "eyJ.id.token",
        }
    )
    assert remote is not None
    assert (remote.run_url, remote.run_id_token) == ("https://run.example.test", "eyJ.id.token")
    assert "eyJ.id.token" not in repr(remote) and "sk_a_b" not in repr(remote)
    with pytest.raises(ConfigError, match="SOCIALSCHED_RUN_URL must be https"):
        load_remote({**base, "SOCIALSCHED_RUN_URL": "http://run.example.test"})
    unset = load_remote(base)
    assert unset is not None and (unset.run_url, unset.run_id_token) == (None, None)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost.example.com",  # a prefix of this machine's name, another host
        "http://127.0.0.1.example.com/",
        "http://localhost@example.com/",
        "https://",
        "ftp://localhost/",
    ],
)
def test_a_remote_url_over_http_must_be_this_machine_not_a_name_that_starts_like_it(
    url: str,
) -> None:
    base = {"SOCIALSCHED_API_URL": "https://api.example.test", "SOCIALSCHED_API_KEY": "sk_a_b"}
    for name in ("SOCIALSCHED_API_URL", "SOCIALSCHED_STATUS_URL", "SOCIALSCHED_RUN_URL"):
        with pytest.raises(ConfigError, match=f"{name} must be https"):
            load_remote({**base, name: url})


def test_https_anywhere_and_http_to_this_machine_are_remote_urls() -> None:
    base = {"SOCIALSCHED_API_KEY": "sk_a_b"}
    for url in (
        "https://api.example.test/",
        "http://127.0.0.1:8080",
        "http://localhost:1/",
        "http://[::1]:9/",
    ):
        assert load_remote({**base, "SOCIALSCHED_API_URL": url}) is not None
