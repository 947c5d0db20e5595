"""Mask secrets in text that leaves the process: stored errors and log lines.

A platform can echo a token back in another encoding than the one sent (a URL in an error
message carries it URL-encoded, a JSON body JSON-escaped), so each secret is masked in every
form it can take, and any value named like a token is masked even when nobody said it was one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
# Redacting twice changes nothing: a value that is already the mask is left alone.
_NOT_MASKED = rf"(?!{re.escape(MASK)})"

# Parameter names whose value is a credential wherever they appear (query, form, JSON).
CREDENTIAL_PARAMS = ("access_token", "input_token", "fb_exchange_token", "client_secret")
_NAMES = "|".join(CREDENTIAL_PARAMS)
# `access_token=EAA...` (URL or form; also after an encoded `=`), up to the next separator.
_PARAM_VALUE = re.compile(
    rf"(?P<name>\b(?:{_NAMES}))(?P<eq>=|%3D){_NOT_MASKED}(?P<value>[^&\s\"'<>,;)\]}}]+)",
    re.IGNORECASE,
)
# `"access_token": "EAA..."`, also inside JSON that was itself escaped into a string (\").
_JSON_VALUE = re.compile(
    rf'(?P<name>\\?"(?:{_NAMES})\\?"\s*:\s*)(?P<quote>\\?"){_NOT_MASKED}'
    r'(?:[^"\\]|\\[^"])*\\?"',
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each secret (raw, URL-encoded, JSON-escaped) and any token value masked."""
    text = _JSON_VALUE.sub(lambda m: f"{m['name']}{m['quote']}{MASK}{m['quote']}", text)
    text = _PARAM_VALUE.sub(lambda m: f"{m['name']}{m['eq']}{MASK}", text)
    for form in _encodings(secrets):
        text = re.sub(re.escape(form), MASK, text, flags=re.IGNORECASE)
    return text


def _encodings(secrets: Iterable[str]) -> list[str]:
    """Every form of every secret, longest first so a longer form is never left half-masked.

    Case-insensitive matching covers percent-escapes in lower case (`%2b`) as some servers
    write them; masking a differently-cased lookalike as well costs nothing."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.update(
            {
                secret,
                quote(secret, safe=""),
                quote(secret),  # `/` left as is, as in a URL path
                quote_plus(secret),
                json.dumps(secret)[1:-1],
                json.dumps(secret, ensure_ascii=False)[1:-1],
                json.dumps(secret)[1:-1].replace("/", "\\/"),  # PHP's json_encode escapes `/`
            }
        )
    return sorted(forms, key=len, reverse=True)
