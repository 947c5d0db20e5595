"""The connectors' pure rules: account ids usable in an API path, Meta's expiry warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.model import Account
from common.platforms.bluesky.connector import account_id_for as bluesky_id
from common.platforms.mastodon.connector import account_id_for as mastodon_id
from common.platforms.meta.connector import _health

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_account_ids_carry_no_slash_or_colon() -> None:
    assert bluesky_id("did:plc:z72i7hdynmk6r22z27h6tvur") == "bsky-plc-z72i7hdynmk6r22z27h6tvur"
    assert bluesky_id("did:web:example.com") == "bsky-web-example.com"
    assert mastodon_id("https://Mastodon.Social", "109") == "masto-mastodon.social-109"
    assert mastodon_id("http://127.0.0.1:8123", "7") == "masto-127.0.0.1-8123-7"


def test_a_meta_token_close_to_its_end_is_the_expiring_kind() -> None:
    account = Account("a", "facebook", "a", "a", "ciphertext")
    soon = int((NOW + timedelta(days=3)).timestamp())
    health = _health(account, {"is_valid": True, "expires_at": soon}, NOW)
    assert health.valid and health.problem is not None
    assert health.problem.kind == "expiring"
    assert str(health.problem).startswith("expires in 3 days")
    later = int((NOW + timedelta(days=40)).timestamp())
    assert _health(account, {"is_valid": True, "expires_at": later}, NOW).problem is None
    assert _health(account, {"is_valid": True, "expires_at": 0}, NOW).expires_at is None
