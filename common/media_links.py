"""A post's uploaded media as URLs the network can fetch, right before the send.

Uploaded items are stored on a post by object name (the variant chosen for its network when it
was scheduled); each attempt signs fresh V4 GET URLs for them, valid MEDIA_URL_TTL_SECONDS, so a
retry hours later never hands Meta an expired URL and the bucket is never public. Bluesky and
Mastodon uploads fetch the same URLs and stream the bytes from the bucket. Items given as URLs
by the user pass through unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from threading import Lock

from common.config import Settings
from common.model import Post
from common.storage import MediaBucket, storage_config


class MediaLinks:
    """Signs uploaded media of a post; the bucket client is made on the first such post."""

    def __init__(self, settings: Settings) -> None:
        self._config = storage_config(settings)
        self._ttl = timedelta(seconds=settings.media_url_ttl_seconds)
        self._bucket: MediaBucket | None = None
        self._lock = Lock()

    def signed(self, post: Post) -> Post:
        stored = [m for m in post.content.media if m.object_name]
        if not stored:
            return post
        bucket = self._bucket_or_none()
        if bucket is None:
            return post  # no bucket configured: the publisher refuses the empty URL itself
        media = tuple(
            replace(m, url=bucket.signed_get_url(m.object_name, self._ttl)) if m.object_name else m
            for m in post.content.media
        )
        return replace(post, content=replace(post.content, media=media))

    def _bucket_or_none(self) -> MediaBucket | None:
        if self._config is None:
            return None
        with self._lock:
            if self._bucket is None:
                self._bucket = MediaBucket(self._config)
            return self._bucket
