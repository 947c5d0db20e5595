"""Fetching a post's media from its URL, for networks that store the bytes themselves
(Bluesky's uploadBlob, Mastodon's media upload) instead of fetching a URL like Meta."""

from __future__ import annotations

import requests
from urllib3.exceptions import HTTPError as TransferError

from common.config import Settings
from common.platforms.base import Outcome, Permanent, Retryable
from common.platforms.http import NetworkClient

# A file takes longer to read than an API answer; the connect is as short as any call's.
TIMEOUT = (5.0, 30.0)


class MediaFetcher(NetworkClient):
    """The media downloads' own pooled session (the shared HTTP layer, with these timeouts),
    one for the publishers of every network that needs the bytes."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("media", settings, timeout=TIMEOUT)

    def fetch(
        self, url: str, max_bytes: int, kinds: tuple[str, ...]
    ) -> tuple[bytes, str] | Outcome:
        """The bytes and their media type (one of `kinds`, e.g. "image/"), at most `max_bytes`.

        A server error or a network failure is worth another try; a refusal, a wrong type or a
        file too large is not."""
        response = self._session.send("GET", url, call="media", idempotent=True, stream=True)
        if not isinstance(response, requests.Response):
            return response
        try:
            data = response.raw.read(max_bytes + 1, decode_content=True)
        except (TransferError, OSError) as exc:  # the body broke off or stalled mid-way
            return Retryable(f"media could not be fetched: {type(exc).__name__}")
        finally:
            response.close()
        mime = response.headers.get("Content-Type", "").split(";")[0].strip()
        if response.status_code >= 500:
            return Retryable(f"media server answered {response.status_code}")
        if not response.ok:
            return Permanent("media_unavailable", f"media URL answered {response.status_code}")
        if not mime.startswith(kinds):
            return Permanent("media_type", f"the URL served {mime or 'no type'}")
        if len(data) > max_bytes:
            return Permanent("media_too_large", f"media larger than {max_bytes} bytes")
        return data, mime
