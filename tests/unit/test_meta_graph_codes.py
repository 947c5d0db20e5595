"""The Graph client's mapping of Meta's errors and usage headers, and the token cipher: pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from common.platforms.base import AuthExpired, Permanent, RateLimited, Retryable
from common.platforms.meta.graph import (
    GraphError,
    Usage,
    classify,
    parse_error,
    parse_usage,
)
from common.tokens import TokenCipher, TokenKeyError

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def error(code: int, subcode: int | None = None, transient: bool = False) -> GraphError:
    return GraphError(code, subcode, "msg", transient, "trace")


@pytest.mark.parametrize(
    ("code", "subcode", "transient", "expected"),
    [
        (190, None, False, AuthExpired),
        (190, 463, False, AuthExpired),
        (190, 460, False, AuthExpired),
        (102, None, False, AuthExpired),
        (200, None, False, AuthExpired),
        (25, 2207050, False, AuthExpired),
        (4, None, True, RateLimited),
        (17, None, False, RateLimited),
        (32, None, False, RateLimited),
        (613, None, False, RateLimited),
        (80001, None, False, RateLimited),
        (80002, None, False, RateLimited),
        (9, 2207042, False, RateLimited),
        (9007, 2207027, False, RateLimited),
        (368, 1390008, False, RateLimited),
        (1, None, False, Retryable),
        (2, None, True, Retryable),
        (-1, 2207001, False, Retryable),
        (24, 2207008, False, Retryable),
        (100, None, True, Retryable),
        (4, 2207051, False, Permanent),
        (100, 33, False, Permanent),
        (506, None, False, Permanent),
    ],
)
def test_meta_error_codes_map_to_the_taxonomy(
    code: int, subcode: int | None, transient: bool, expected: type
) -> None:
    assert isinstance(classify(error(code, subcode, transient), Usage(), NOW), expected)


def test_a_throttle_waits_as_long_as_the_usage_header_says() -> None:
    headers = {
        "X-App-Usage": json.dumps({"call_count": 40, "total_cputime": 5, "total_time": 7}),
        "X-Business-Use-Case-Usage": json.dumps(
            {"123": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 12}]}
        ),
    }
    usage = parse_usage(headers)
    assert usage == Usage(max_percent=100, regain_seconds=720)
    outcome = classify(error(80001), usage, NOW)
    assert outcome == RateLimited(NOW + timedelta(minutes=12), "(80001) msg")


def test_malformed_usage_headers_count_as_no_usage() -> None:
    assert parse_usage({"X-App-Usage": "not json", "X-Page-Usage": "[1]"}) == Usage()


def test_a_permanent_error_keeps_metas_code_and_message_without_the_token() -> None:
    parsed = parse_error(
        {"error": {"message": "bad token tok-123 here", "code": 100, "error_subcode": 33}},
        ["tok-123"],
    )
    assert parsed is not None
    outcome = classify(parsed, Usage(), NOW)
    assert outcome == Permanent("meta_100_33", "bad token [redacted] here")


def test_tokens_round_trip_and_rotate_to_the_first_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher((old,)).encrypt("page-token")
    assert "page-token" not in stored
    both = TokenCipher((new, old))
    assert both.decrypt(stored) == "page-token"
    rotated = both.rotate(stored)
    assert TokenCipher((new,)).decrypt(rotated) == "page-token"
    with pytest.raises(TokenKeyError, match="cannot be decrypted"):
        TokenCipher((new,)).decrypt(stored)


def test_a_missing_or_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(TokenKeyError, match="TOKEN_ENCRYPTION_KEY is not set"):
        TokenCipher(()).decrypt("ciphertext")
    with pytest.raises(TokenKeyError, match="entry 2 is not a Fernet key"):
        TokenCipher((Fernet.generate_key().decode(), "short"))
