"""Mastodon statuses: text, up to four media with alt text (processing polled within the run's
budget), visibility and content warning, on the account's own instance.

The one write is `POST /api/v1/statuses` with an `Idempotency-Key` derived from the post id and
version: the instance keeps keys for about an hour and answers a repeat with the status the
first request made. The key and the media ids are stored before the send, so a look after an
unclear answer can repeat the very same request within that window (`find_published`); after
it (or when the repeat is unclear too), the account's statuses since the send are read back and
matched on their text (replies among them). A first comment or a thread's next part names the
status it answers (`in_reply_to_id`).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from common.clock import utcnow
from common.model import Account, Post
from common.platforms.base import (
    Outcome,
    Permanent,
    PublishContext,
    Published,
    RateLimited,
    Withdrawn,
)
from common.platforms.credentials import (
    ReadBackError,
    open_token,
    token_for_read_back,
)
from common.platforms.mastodon.client import MastodonClient, MastodonReply
from common.platforms.media_fetch import MediaFetcher
from common.tokens import TokenCipher

# Mastodon keeps idempotency keys "for up to 1 hour"; repeat only well inside that.
IDEMPOTENCY_WINDOW = timedelta(minutes=50)
# Mastodon's default media limits (images 16 MB, video 99 MB); an instance may set others.
MAX_MEDIA_BYTES = 99 * 1024 * 1024
MEDIA_POLL_SECONDS = 1.0
BUDGET_RESERVE_SECONDS = 15.0
PROCESSING_RETRY_SECONDS = 60
# Reading back: 40 statuses a page (Mastodon's largest), at most 5 pages.
PAGE_SIZE = 40
MAX_PAGES = 5
CLOCK_SKEW = timedelta(minutes=2)
_BREAK = re.compile(r"<br\s*/?>|</p>")
_TAG = re.compile(r"<[^>]+>")


class MastodonPublisher:
    platform = "mastodon"

    def __init__(
        self,
        client: MastodonClient,
        cipher: TokenCipher,
        media: MediaFetcher,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._cipher = cipher
        self._clock = clock
        self._sleep = sleep
        self._media = media

    # --- publishing -----------------------------------------------------------------------

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        if not account.service_url:
            return Permanent("account_incomplete", "the Mastodon account has no instance URL")
        token = open_token(self._cipher, account, self._clock())
        if not isinstance(token, str):
            return token
        media_ids = self._media_ids(post, account, token, ctx)
        if not isinstance(media_ids, list):
            return media_ids
        key = idempotency_key(post)
        remote = {"idempotencyKey": key, "mediaIds": ",".join(media_ids)}
        if not ctx.begin_send(remote):
            return Withdrawn("post changed or taken over before send")
        # An unclear answer goes back as it is: the run looks (find_published) first.
        return self._send(post, account.service_url, token, key, media_ids)

    def _send(
        self, post: Post, instance: str, token: str, key: str, media_ids: Sequence[str]
    ) -> Outcome:
        reply = self._client.call(
            "POST",
            instance,
            "v1/statuses",
            token,
            body=_status_body(post, media_ids),
            headers={"Idempotency-Key": key},
            idempotent=False,
        )
        if not isinstance(reply, MastodonReply):
            return reply
        return Published(str(reply.body["id"]))

    # --- media ----------------------------------------------------------------------------

    def _media_ids(
        self, post: Post, account: Account, token: str, ctx: PublishContext
    ) -> list[str] | Outcome:
        """Upload each medium (or reuse the uploads of an earlier attempt), then wait until the
        instance has processed them, within the run's budget."""
        assert account.service_url is not None
        stored = post.remote.get("mediaIds")
        if stored:
            ids = stored.split(",")
        else:
            ids = []
            for media in post.content.media:
                uploaded = self._upload(account.service_url, token, media.url, media.alt)
                if not isinstance(uploaded, str):
                    return uploaded
                ids.append(uploaded)
            if ids and not ctx.record_remote({"mediaIds": ",".join(ids)}):
                return Withdrawn("post changed or taken over while preparing media")
        waited = self._wait_processed(account.service_url, token, ids, ctx)
        return ids if waited is None else waited

    def _upload(self, instance: str, token: str, url: str, alt: str) -> str | Outcome:
        fetched = self._media.fetch(url, MAX_MEDIA_BYTES, ("image/", "video/"))
        if not isinstance(fetched, tuple):
            return fetched
        data, mime = fetched
        reply = self._client.call(
            "POST",
            instance,
            "v2/media",
            token,
            body={"description": alt} if alt else {},
            files={"file": ("media", data, mime)},
            idempotent=True,  # an unattached upload is cleaned up by the instance
        )
        if not isinstance(reply, MastodonReply):
            return reply
        return str(reply.body["id"])

    def _wait_processed(
        self, instance: str, token: str, ids: Sequence[str], ctx: PublishContext
    ) -> Outcome | None:
        """None once every upload has its `url` (GET answers 200, 206 while processing)."""
        deadline = time.monotonic() + max(0.0, ctx.seconds_left() - BUDGET_RESERVE_SECONDS)
        pending = list(ids)
        while pending:
            still = []
            for media_id in pending:
                reply = self._client.call(
                    "GET", instance, f"v1/media/{media_id}", token, idempotent=True
                )
                if not isinstance(reply, MastodonReply):
                    return reply
                if reply.status == 206 or not reply.body.get("url"):
                    still.append(media_id)
            pending = still
            if pending and time.monotonic() + MEDIA_POLL_SECONDS > deadline:
                retry_at = self._clock() + timedelta(seconds=PROCESSING_RETRY_SECONDS)
                return RateLimited(retry_at, "media still processing; deferred", account_wide=False)
            if pending:
                self._sleep(MEDIA_POLL_SECONDS)
        return None

    # --- finding a post again -------------------------------------------------------------

    def find_published(self, post: Post, account: Account) -> Published | None:
        key = post.remote.get("idempotencyKey")
        if not key or post.send_started_at is None:
            return None  # begin_send stores the key, so nothing was sent
        if not account.service_url:
            raise ReadBackError("the account has no instance URL")
        token = token_for_read_back(self._cipher, account, self._clock())
        if self._clock() - post.send_started_at < IDEMPOTENCY_WINDOW:
            repeated = self._repeat_with_key(post, account.service_url, token, key)
            if repeated is not None:
                return repeated
        # Past the window, or the repeat got no clear answer: Mastodon creates a status before
        # it answers, so the account's statuses show it if the send arrived.
        return self._read_back(post, account, token)

    def _repeat_with_key(self, post: Post, instance: str, token: str, key: str) -> Published | None:
        """The same request with the same key: the instance answers with the status the first
        one made, or makes it now if the first never arrived; either way there is one.
        None when this answer is unclear too."""
        media_ids = [m for m in post.remote.get("mediaIds", "").split(",") if m]
        outcome = self._send(post, instance, token, key, media_ids)
        return outcome if isinstance(outcome, Published) else None

    def _read_back(self, post: Post, account: Account, token: str) -> Published | None:
        """The account's statuses, newest first, back to the send: one whose text (and content
        warning) is the post's is the post."""
        assert account.service_url is not None and post.send_started_at is not None
        since = post.send_started_at - CLOCK_SKEW
        wanted = _normalise(_status_body(post, [])["status"]), post.content.content_warning or ""
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            reply = self._client.call(
                "GET",
                account.service_url,
                f"v1/accounts/{account.external_id}/statuses",
                token,
                params=params,
                idempotent=True,
            )
            if not isinstance(reply, MastodonReply):
                raise ReadBackError(f"statuses unreadable: {reply}")
            for status in reply.body:
                if (
                    _normalise(_plain(status["content"])),
                    status.get("spoiler_text", ""),
                ) == wanted:
                    return Published(str(status["id"]))
            if not reply.body or _created(reply.body[-1]) < since:
                return None
            params["max_id"] = reply.body[-1]["id"]
        raise ReadBackError(f"{MAX_PAGES} pages did not reach back to the send")


def idempotency_key(post: Post) -> str:
    """The same post and version, the same key: a repeat is the same request to Mastodon."""
    return f"{post.id}-v{post.version}"


def _status_body(post: Post, media_ids: Sequence[str]) -> dict[str, Any]:
    content = post.content
    text = content.text
    if content.link and content.link not in text:
        text = f"{text}\n\n{content.link}" if text else content.link
    body: dict[str, Any] = {"status": text}
    if media_ids:
        body["media_ids"] = list(media_ids)
    if content.content_warning:
        body["spoiler_text"] = content.content_warning
    if content.visibility:
        body["visibility"] = content.visibility
    if post.reply_to:  # a first comment or a thread's next part: the status it answers
        body["in_reply_to_id"] = post.reply_to["id"]
    return body


def _plain(content_html: str) -> str:
    """Mastodon's HTML back to text: paragraphs and breaks as spaces (only the words are
    compared), tags dropped (a link's hidden spans carry its full URL), entities unescaped."""
    return html.unescape(_TAG.sub("", _BREAK.sub(" ", content_html)))


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _created(status: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(status["created_at"]).replace("Z", "+00:00"))
