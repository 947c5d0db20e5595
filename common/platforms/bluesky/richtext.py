"""Links and mentions in a post's text as Bluesky facets, located by UTF-8 byte offsets.

Bluesky marks rich text with facets that point into the text's UTF-8 bytes (inclusive start,
exclusive end), not at characters: an accent or an emoji before a link moves it by several
bytes. Pure; resolving a mention's handle to a DID is the caller's network call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A URL runs to the next space; punctuation that usually ends a sentence is not part of it,
# except a closing parenthesis when the URL has an opening one (`https://w.org/A_(b)`), as
# Bluesky's own link detector keeps it (detectFacets in @atproto/api).
_URL = re.compile(r"https?://[^\s]+")
_TRAILING = ".,;:!?)]}'\""
# A handle is a domain name (at least two labels), after a start, a space or an opening bracket.
_MENTION = re.compile(
    r"(?:^|(?<=[\s(\[]))@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
)

LINK = "app.bsky.richtext.facet#link"
MENTION = "app.bsky.richtext.facet#mention"


@dataclass(frozen=True)
class Span:
    """A piece of the text: its byte range and what it names (a URL or a handle)."""

    byte_start: int
    byte_end: int
    value: str


def link_spans(text: str) -> list[Span]:
    spans = []
    for match in _URL.finditer(text):
        url = _without_trailing_punctuation(match.group(0))
        spans.append(_span(text, match.start(), match.start() + len(url), url))
    return spans


def _without_trailing_punctuation(url: str) -> str:
    while url and url[-1] in _TRAILING and not (url[-1] == ")" and "(" in url):
        url = url[:-1]
    return url


def mention_spans(text: str) -> list[Span]:
    """`@handle` spans; the span covers the `@`, the value is the handle without it."""
    return [
        _span(text, match.start(), match.end(), match.group(1)) for match in _MENTION.finditer(text)
    ]


def facets(text: str, resolve_handle: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """Link facets, and mention facets for the handles that resolve to a DID (an unknown
    handle stays plain text, as Bluesky's own app leaves it)."""
    found = [_facet(span, {"$type": LINK, "uri": span.value}) for span in link_spans(text)]
    for span in mention_spans(text):
        did = resolve_handle(span.value)
        if did is not None:
            found.append(_facet(span, {"$type": MENTION, "did": did}))
    return sorted(found, key=lambda f: int(f["index"]["byteStart"]))


def _span(text: str, start: int, end: int, value: str) -> Span:
    byte_start = len(text[:start].encode("utf-8"))
    return Span(byte_start, byte_start + len(text[start:end].encode("utf-8")), value)


def _facet(span: Span, feature: dict[str, str]) -> dict[str, Any]:
    return {
        "index": {"byteStart": span.byte_start, "byteEnd": span.byte_end},
        "features": [feature],
    }
