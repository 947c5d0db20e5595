"""Secrets are masked in every encoding a platform may echo them in, and in every log line."""

from __future__ import annotations

import json
import logging
import sys
from urllib.parse import quote, quote_plus

import pytest

from common.logs import JsonFormatter
from common.redact import MASK, redact

TOKEN = "EAAB+tok/en=="


@pytest.mark.parametrize(
    "echoed",
    [
        TOKEN,
        quote(TOKEN, safe=""),
        quote(TOKEN),
        quote_plus(TOKEN),
        quote_plus(TOKEN).lower(),  # percent-escapes in lower case
        json.dumps(TOKEN)[1:-1],
        json.dumps(TOKEN)[1:-1].replace("/", "\\/"),  # PHP's json_encode escapes `/`
    ],
)
def test_a_known_secret_is_masked_in_each_encoding(echoed: str) -> None:
    assert redact(f"error near {echoed} in the request", [TOKEN]) == (
        f"error near {MASK} in the request"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /me?access_token=EAAzz%2B9&fields=id", f"GET /me?access_token={MASK}&fields=id"),
        ("debug_token?input_token=EAAyy", f"debug_token?input_token={MASK}"),
        ('{"access_token": "EAAxx\\/1"}', f'{{"access_token": "{MASK}"}}'),
        ('"{\\"access_token\\":\\"EAAww\\"}"', f'"{{\\"access_token\\":\\"{MASK}\\"}}"'),
        ("ACCESS_TOKEN=abc def", f"ACCESS_TOKEN={MASK} def"),
    ],
)
def test_any_token_value_is_masked_without_being_told_the_secret(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redacting_twice_changes_nothing_and_other_text_is_kept() -> None:
    once = redact(f"access_token={quote_plus(TOKEN)} and {TOKEN}; code 190", [TOKEN])
    assert once == f"access_token={MASK} and {MASK}; code 190"
    assert redact(once, [TOKEN]) == once
    assert redact("no secret here: (#100) Invalid parameter", [TOKEN, ""]) == (
        "no secret here: (#100) Invalid parameter"
    )


def test_every_log_line_is_redacted_in_message_fields_and_stack_trace() -> None:
    try:
        raise RuntimeError(f"upstream said access_token={quote_plus(TOKEN)}")
    except RuntimeError:
        record = logging.LogRecord(
            "t",
            logging.ERROR,
            __file__,
            1,
            "call to %s failed",
            ("/me?access_token=EAAq",),
            sys.exc_info(),
        )
    record.reason = '{"access_token": "EAAr"}'
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == f"call to /me?access_token={MASK} failed"
    assert entry["reason"] == f'{{"access_token": "{MASK}"}}'
    assert f"access_token={MASK}" in entry["stack_trace"]
    assert quote_plus(TOKEN) not in line and "EAAq" not in line and "EAAr" not in line
