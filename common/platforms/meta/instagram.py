"""Instagram professional accounts: image, carousel (2-10 items) and reel.

Create a container, wait (within the run's budget) until Meta has processed it, then call
`media_publish`, the one non-idempotent step. The container id is stored on the post before
that call, and a container whose status is already PUBLISHED is never published again.
The rolling 24-hour publishing quota is read from `content_publishing_limit` (Meta's documents
say 25, 50 or 100, so it is never assumed) and checked before publishing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from common.accounts import Account
from common.clock import utcnow
from common.config import Settings
from common.model import Media, Post
from common.platforms.base import (
    Outcome,
    Permanent,
    PublishContext,
    Published,
    RateLimited,
    Retryable,
    Withdrawn,
)
from common.platforms.credentials import ReadBackError, open_token, token_for_read_back
from common.platforms.meta.graph import GraphClient, GraphReply
from common.platforms.meta.quota import PublishingQuota
from common.platforms.meta.readback import (
    IG_MEDIA,
    find_recent,
    read_back_since,
)
from common.tokens import TokenCipher

# Keep this much of the run's budget for publishing and recording after the wait.
BUDGET_RESERVE_SECONDS = 15.0
# Meta suggests polling about once a minute: a post still processing comes back next tick.
PROCESSING_RETRY_SECONDS = 60
_USABLE = ("IN_PROGRESS", "FINISHED")


class InstagramPublisher:
    platform = "instagram"

    def __init__(
        self,
        client: GraphClient,
        cipher: TokenCipher,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._cipher = cipher
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._quota = PublishingQuota(
            client, "content_publishing_limit", settings.ig_quota_cache_seconds, clock
        )

    # --- publishing -----------------------------------------------------------------------

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        token = open_token(self._cipher, account, self._clock())
        if not isinstance(token, str):
            return token
        container = self._reusable_container(post, account, token)
        if not isinstance(container, str | None):
            return container
        if (blocked := self._quota.blocks(account, token)) is not None:
            return blocked
        if container is None:
            created = self._create(post, account, token, ctx)
            if not isinstance(created, str):
                return created
            container = created
        waited = self._wait_finished([container], token, ctx)
        if waited is not None:
            return waited
        return self._publish_container(post, account, token, ctx, container)

    def _publish_container(
        self, post: Post, account: Account, token: str, ctx: PublishContext, container: str
    ) -> Outcome:
        if not ctx.begin_send({"container": container}):
            return Withdrawn("post changed or taken over before send")
        # An unclear answer goes back as it is: the caller reads the container's status
        # (find_published) before anything else (common.transitions).
        reply = self._client.call(
            "POST",
            f"{account.external_id}/media_publish",
            token,
            {"creation_id": container},
            idempotent=False,
        )
        if not isinstance(reply, GraphReply):
            return reply
        self._quota.count_publish(account)
        return Published(str(reply.body["id"]))

    # --- containers -----------------------------------------------------------------------

    def _reusable_container(self, post: Post, account: Account, token: str) -> str | Outcome | None:
        """A container from an earlier attempt: reuse it while processing or ready, and answer
        Published when it already went out (never publish a PUBLISHED container again)."""
        container = post.remote.get("container")
        if not container:
            return None
        status = self._status(container, token)
        if not isinstance(status, str):
            return None if isinstance(status, Permanent) else status  # gone: make a new one
        if status == "PUBLISHED":
            return Published(self._media_id(post, account, token) or f"container:{container}")
        return container if status in _USABLE else None

    def _create(
        self, post: Post, account: Account, token: str, ctx: PublishContext
    ) -> str | Outcome:
        media = post.content.media
        if not media:
            return Permanent("media_required", "Instagram posts need an image or a video")
        caption = post.content.text or None
        if len(media) == 1:
            return self._new_container(
                account, token, ctx, {**_item(media[0], False), "caption": caption}
            )
        children = self._children(post, account, token, ctx)
        if not isinstance(children, list):
            return children
        params = {"media_type": "CAROUSEL", "children": ",".join(children), "caption": caption}
        return self._new_container(account, token, ctx, params)

    def _children(
        self, post: Post, account: Account, token: str, ctx: PublishContext
    ) -> list[str] | Outcome:
        stored = post.remote.get("children")
        if stored and self._all_usable(stored.split(","), token):
            children = stored.split(",")
        else:
            children = []
            for item in post.content.media:
                reply = self._client.call(
                    "POST",
                    f"{account.external_id}/media",
                    token,
                    _item(item, True),
                    idempotent=True,
                )
                if not isinstance(reply, GraphReply):
                    return reply
                children.append(str(reply.body["id"]))
            if not ctx.record_remote({"children": ",".join(children)}):
                return Withdrawn("post changed or taken over while preparing media")
        # The parent can only be made from children that finished processing.
        waited = self._wait_finished(children, token, ctx)
        return children if waited is None else waited

    def _new_container(
        self, account: Account, token: str, ctx: PublishContext, params: Mapping[str, Any]
    ) -> str | Outcome:
        # Creating a container is invisible and expires in 24 h: safe to repeat.
        reply = self._client.call(
            "POST", f"{account.external_id}/media", token, params, idempotent=True
        )
        if not isinstance(reply, GraphReply):
            return reply
        container = str(reply.body["id"])
        if not ctx.record_remote({"container": container}):
            return Withdrawn("post changed or taken over while preparing media")
        return container

    def _status(self, container: str, token: str) -> str | Outcome:
        reply = self._client.call(
            "GET", container, token, {"fields": "status_code,status"}, idempotent=True
        )
        if not isinstance(reply, GraphReply):
            return reply
        return str(reply.body.get("status_code", ""))

    def _all_usable(self, containers: Sequence[str], token: str) -> bool:
        return all(self._status(c, token) in _USABLE for c in containers)

    def _wait_finished(
        self, containers: Sequence[str], token: str, ctx: PublishContext
    ) -> Outcome | None:
        """None once every container is FINISHED; otherwise the outcome to report.

        The wait is bounded by IG_MAX_WAIT_SECONDS and by the run's budget; media still
        processing after that is deferred to a later run (not an attempt spent)."""
        wait = min(self._settings.ig_max_wait_seconds, ctx.seconds_left() - BUDGET_RESERVE_SECONDS)
        deadline = time.monotonic() + max(0.0, wait)
        pending = list(containers)
        while True:
            still: list[str] = []
            for container in pending:
                status = self._status(container, token)
                if not isinstance(status, str):
                    return status
                if status == "ERROR":
                    return Permanent("media_processing_failed", f"container {container}: ERROR")
                if status == "EXPIRED":
                    return Retryable(f"container {container} expired; a new one will be made")
                if status != "FINISHED":
                    still.append(container)
            if not still:
                return None
            pending = still
            if time.monotonic() + self._settings.ig_poll_interval_seconds > deadline:
                retry_at = self._clock() + timedelta(seconds=PROCESSING_RETRY_SECONDS)
                return RateLimited(retry_at, "media still processing; deferred", account_wide=False)
            self._sleep(self._settings.ig_poll_interval_seconds)

    # --- finding a post again -------------------------------------------------------------

    def find_published(self, post: Post, account: Account) -> Published | None:
        """The container's status is authoritative; the media list supplies the media id."""
        container = post.remote.get("container")
        if not container:
            return None  # begin_send stores the container, so nothing was sent
        token = token_for_read_back(self._cipher, account, self._clock())
        status = self._status(container, token)
        if not isinstance(status, str):
            raise ReadBackError(f"container status unreadable: {type(status).__name__}")
        if status != "PUBLISHED":
            return None
        return Published(self._media_id(post, account, token) or f"container:{container}")

    def _media_id(self, post: Post, account: Account, token: str) -> str | None:
        since = read_back_since(post)
        owner, text = account.external_id, post.content.text
        try:
            return find_recent(self._client, token, owner, IG_MEDIA, text, since)
        except ReadBackError:
            return None  # the container already proved publication; the id is a nicety


def _item(media: Media, carousel_child: bool) -> dict[str, Any]:
    if media.type == "video":
        kind = "VIDEO" if carousel_child else "REELS"
        params: dict[str, Any] = {"media_type": kind, "video_url": media.url}
    else:
        params = {"image_url": media.url}
    if carousel_child:
        params["is_carousel_item"] = True
    return params
