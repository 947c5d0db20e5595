"""Threads posts: text, image, video and carousel (2 to 20 items).

Create a container (invisible, expires in 24 h: safe to repeat), wait within the run's budget
until a media container is FINISHED, store its id, then call `threads_publish`: a text post is
two requests. The 250-posts-per-24-hours
quota is read from `threads_publishing_limit` at most once per IG_QUOTA_CACHE_SECONDS per
account and counted locally in between.
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
from common.platforms.meta.readback import THREADS_POSTS, find_recent, read_back_since
from common.tokens import TokenCipher

BUDGET_RESERVE_SECONDS = 15.0
PROCESSING_RETRY_SECONDS = 60  # Meta suggests polling about once a minute
_USABLE = ("IN_PROGRESS", "FINISHED")


class ThreadsPublisher:
    platform = "threads"

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
            client, "threads_publishing_limit", settings.ig_quota_cache_seconds, clock
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
        if post.content.media:
            # Media take Meta a while; a text container is ready at once, and if it were not,
            # threads_publish refuses it as not ready (deferred a minute, no attempt spent).
            waited = self._wait_finished([container], token, ctx)
            if waited is not None:
                return waited
        if not ctx.begin_send({"container": container}):
            return Withdrawn("post changed or taken over before send")
        # An unclear answer goes back as it is: the run reads the container's status first.
        reply = self._client.call(
            "POST",
            f"{account.external_id}/threads_publish",
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
        """A container of an earlier attempt: reused while usable; PUBLISHED means done."""
        container = post.remote.get("container")
        if not container:
            return None
        status = self._status(container, token)
        if not isinstance(status, str):
            return None if isinstance(status, Permanent) else status
        if status == "PUBLISHED":
            return self._published(post, account, token, container)
        return container if status in _USABLE else None

    def _create(
        self, post: Post, account: Account, token: str, ctx: PublishContext
    ) -> str | Outcome:
        content = post.content
        text = _text(post)
        if not content.media:
            return self._new_container(account, token, ctx, {"media_type": "TEXT", "text": text})
        if len(content.media) == 1:
            params = {**_item(content.media[0], carousel_child=False), "text": text or None}
            return self._new_container(account, token, ctx, params)
        children = self._children(post, account, token, ctx)
        if not isinstance(children, list):
            return children
        params = {"media_type": "CAROUSEL", "children": ",".join(children), "text": text or None}
        return self._new_container(account, token, ctx, params)

    def _children(
        self, post: Post, account: Account, token: str, ctx: PublishContext
    ) -> list[str] | Outcome:
        stored = post.remote.get("children")
        if stored and all(self._status(c, token) in _USABLE for c in stored.split(",")):
            children = stored.split(",")
        else:
            children = []
            for item in post.content.media:
                reply = self._client.call(
                    "POST",
                    f"{account.external_id}/threads",
                    token,
                    _item(item, carousel_child=True),
                    idempotent=True,
                )
                if not isinstance(reply, GraphReply):
                    return reply
                children.append(str(reply.body["id"]))
            if not ctx.record_remote({"children": ",".join(children)}):
                return Withdrawn("post changed or taken over while preparing media")
        waited = self._wait_finished(children, token, ctx)
        return children if waited is None else waited

    def _new_container(
        self, account: Account, token: str, ctx: PublishContext, params: Mapping[str, Any]
    ) -> str | Outcome:
        reply = self._client.call(
            "POST", f"{account.external_id}/threads", token, params, idempotent=True
        )
        if not isinstance(reply, GraphReply):
            return reply
        container = str(reply.body["id"])
        if not ctx.record_remote({"container": container}):
            return Withdrawn("post changed or taken over while preparing media")
        return container

    def _status(self, container: str, token: str) -> str | Outcome:
        reply = self._client.call(
            "GET", container, token, {"fields": "status,error_message"}, idempotent=True
        )
        if not isinstance(reply, GraphReply):
            return reply
        return str(reply.body.get("status", ""))

    def _wait_finished(
        self, containers: Sequence[str], token: str, ctx: PublishContext
    ) -> Outcome | None:
        """None once every container is FINISHED; processing longer than the run's budget (or
        IG_MAX_WAIT_SECONDS) defers the post without spending an attempt."""
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
        """The container's status is authoritative; the profile's threads supply the id."""
        container = post.remote.get("container")
        if not container:
            return None
        token = token_for_read_back(self._cipher, account, self._clock())
        status = self._status(container, token)
        if not isinstance(status, str):
            raise ReadBackError(f"container status unreadable: {type(status).__name__}")
        if status != "PUBLISHED":
            return None
        return self._published(post, account, token, container)

    def _published(self, post: Post, account: Account, token: str, container: str) -> Published:
        """The thread's id from the profile's recent threads (matched on text since the send);
        the container id stands in when it cannot be read: publication is already proven."""
        owner, since = account.external_id, read_back_since(post)
        try:
            found = find_recent(self._client, token, owner, THREADS_POSTS, _text(post), since)
        except ReadBackError:
            found = None
        return Published(found or f"container:{container}")


def _text(post: Post) -> str:
    """A link goes at the end of the text (Threads makes it a link preview)."""
    text, link = post.content.text, post.content.link
    if link and link not in text:
        return f"{text}\n\n{link}" if text else link
    return text


def _item(media: Media, *, carousel_child: bool) -> dict[str, Any]:
    if media.type == "video":
        params: dict[str, Any] = {"media_type": "VIDEO", "video_url": media.url}
    else:
        params = {"media_type": "IMAGE", "image_url": media.url}
    if media.alt:
        params["alt_text"] = media.alt
    if carousel_child:
        params["is_carousel_item"] = True
    return params
