"""The sandboxes fetch the media they are given, as the networks do.

Meta fetches `image_url`, `video_url` (Instagram, Threads) and a Page photo's `url` itself, and
fails the call when it cannot: a URL that does not answer 200, or answers with a type the
network does not take. The sandboxes fetch from this machine only: a URL on any other host is
answered as a fetch failure, so no test and no demo reaches out of the machine. Development only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

FETCH_TIMEOUT_SECONDS = 5.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Meta's documented limits on fetched media are in megabytes; reading more is pointless here.
MAX_FETCH_BYTES = 300 * 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    mime: str
    size: int


def fetch(url: str, accepted: frozenset[str]) -> Fetched | None:
    """The media's type and size, or None when the network would fail to fetch it: not on
    this machine, not 200, or a type outside `accepted`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        return None
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT_SECONDS, stream=True) as answer:
            mime = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if answer.status_code != 200 or mime not in accepted:
                return None
            size = len(answer.raw.read(MAX_FETCH_BYTES, decode_content=True))
    except requests.RequestException:
        return None
    return Fetched(mime, size)
