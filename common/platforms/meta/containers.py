"""The Graph API's container flow, shared by Instagram and Threads: each names its edges and
fields (`ContainerApi`), the flow is one.

Create a container (invisible, expires in 24 h: safe to repeat), wait within the run's budget
until Meta has processed its media, store its id on the post, then call the publish edge: the
one non-idempotent step. A container whose status is already PUBLISHED is never published
again. The rolling 24-hour publishing quota is read from the quota edge (never assumed) and
checked before anything is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from common.clock import utcnow
from common.config import Settings
from common.model import Account, Media, Post
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
from common.platforms.meta.comments import find_comment, publish_comment
from common.platforms.meta.graph import GraphClient, GraphReply, create_each
from common.platforms.meta.quota import PublishingQuota
from common.platforms.meta.readback import RecentEdge, find_recent, read_back_since
from common.tokens import TokenCipher

# Keep this much of the run's budget for publishing and recording after the wait.
BUDGET_RESERVE_SECONDS = 15.0
# Meta suggests polling about once a minute: a post still processing comes back next tick.
PROCESSING_RETRY_SECONDS = 60
_USABLE = ("IN_PROGRESS", "FINISHED")


@dataclass(frozen=True)
class ContainerApi:
    """How one member of the family names the flow's edges and fields."""

    platform: str
    create_edge: str  # POST {user}/<edge>: a container, or a carousel child
    publish_edge: str  # POST {user}/<edge> with creation_id: the send
    quota_edge: str  # GET {user}/<edge>: the publishing quota
    status_field: str  # the container's processing status (FINISHED, ERROR...)
    status_fields: str  # what a status read asks for
    text_param: str  # the post's text on a container
    recent: RecentEdge  # the account's published items, for finding a post again
    item: Callable[[Media, bool], dict[str, Any]]  # a media item's parameters (carousel child?)
    text: Callable[[Post], str]  # the text a post is published with
    text_only: str | None  # media_type of a post without media; None: media are required
    # A follow-up (first comment, thread part) answers its parent: Threads by a reply
    # container naming it (`reply_param`, found again among the profile's `replies`);
    # Instagram by a comment on the parent's media (`comments`).
    reply_param: str | None = None
    replies: RecentEdge | None = None
    comments: RecentEdge | None = None


class ContainerPublisher:
    def __init__(
        self,
        api: ContainerApi,
        client: GraphClient,
        cipher: TokenCipher,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.platform = api.platform
        self._api = api
        self._client = client
        self._cipher = cipher
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._quota = PublishingQuota(
            client, api.quota_edge, settings.ig_quota_cache_seconds, clock
        )

    # --- publishing -----------------------------------------------------------------------

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        token = open_token(self._cipher, account, self._clock())
        if not isinstance(token, str):
            return token
        if post.reply_to and self._api.comments is not None:
            return publish_comment(self._client, token, post, ctx)
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
            # the publish edge refuses it as not ready (deferred a minute, no attempt spent).
            waited = self._wait_finished([container], token, ctx)
            if waited is not None:
                return waited
        return self._send(account, token, ctx, container)

    def _send(self, account: Account, token: str, ctx: PublishContext, container: str) -> Outcome:
        if not ctx.begin_send({"container": container}):
            return Withdrawn("post changed or taken over before send")
        # An unclear answer goes back as it is: the caller reads the container's status
        # (find_published) before anything else (common.transitions).
        reply = self._client.call(
            "POST",
            f"{account.external_id}/{self._api.publish_edge}",
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
        """A container from an earlier attempt: reused while processing or ready, and
        Published when it already went out (a PUBLISHED container is never published again)."""
        container = post.remote.get("container")
        if not container:
            return None
        status = self._status(container, token)
        if not isinstance(status, str):
            return None if isinstance(status, Permanent) else status  # gone: make a new one
        if status == "PUBLISHED":
            return self._published(post, account, token, container)
        return container if status in _USABLE else None

    def _create(
        self, post: Post, account: Account, token: str, ctx: PublishContext
    ) -> str | Outcome:
        media, text, api = post.content.media, self._api.text(post), self._api
        replying: dict[str, Any] = {}
        if post.reply_to and api.reply_param is not None:
            replying[api.reply_param] = post.reply_to["id"]
        if not media:
            if api.text_only is None:
                return Permanent("media_required", f"{api.platform} posts need an image or video")
            params: dict[str, Any] = {"media_type": api.text_only, api.text_param: text}
            return self._new_container(account, token, ctx, {**params, **replying})
        if len(media) == 1:
            params = {**api.item(media[0], False), api.text_param: text or None}
            return self._new_container(account, token, ctx, {**params, **replying})
        children = self._children(post, account, token, ctx)
        if not isinstance(children, list):
            return children
        params = {"media_type": "CAROUSEL", "children": ",".join(children), **replying}
        return self._new_container(account, token, ctx, {**params, api.text_param: text or None})

    def _children(
        self, post: Post, account: Account, token: str, ctx: PublishContext
    ) -> list[str] | Outcome:
        stored = post.remote.get("children")
        if stored and all(self._status(c, token) in _USABLE for c in stored.split(",")):
            children = stored.split(",")
        else:
            items = (self._api.item(item, True) for item in post.content.media)
            edge = f"{account.external_id}/{self._api.create_edge}"
            made = create_each(self._client, edge, token, items)
            if not isinstance(made, list):
                return made
            children = made
            if not ctx.record_remote({"children": ",".join(children)}):
                return Withdrawn("post changed or taken over while preparing media")
        # The parent can only be made from children that finished processing.
        waited = self._wait_finished(children, token, ctx)
        return children if waited is None else waited

    def _new_container(
        self, account: Account, token: str, ctx: PublishContext, params: Mapping[str, Any]
    ) -> str | Outcome:
        reply = self._client.call(
            "POST", f"{account.external_id}/{self._api.create_edge}", token, params, idempotent=True
        )
        if not isinstance(reply, GraphReply):
            return reply
        container = str(reply.body["id"])
        if not ctx.record_remote({"container": container}):
            return Withdrawn("post changed or taken over while preparing media")
        return container

    def _status(self, container: str, token: str) -> str | Outcome:
        fields = {"fields": self._api.status_fields}
        reply = self._client.call("GET", container, token, fields, idempotent=True)
        if not isinstance(reply, GraphReply):
            return reply
        return str(reply.body.get(self._api.status_field, ""))

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
        """The container's status is authoritative; the account's recent items supply the id."""
        if post.reply_to and self._api.comments is not None:
            token = token_for_read_back(self._cipher, account, self._clock())
            return find_comment(self._client, token, post, self._api.comments)
        container = post.remote.get("container")
        if not container:
            return None  # begin_send stores the container, so nothing was sent
        token = token_for_read_back(self._cipher, account, self._clock())
        status = self._status(container, token)
        if not isinstance(status, str):
            raise ReadBackError(f"container status unreadable: {type(status).__name__}")
        if status != "PUBLISHED":
            return None
        return self._published(post, account, token, container)

    def _published(self, post: Post, account: Account, token: str, container: str) -> Published:
        """The published item's id, matched on text since the send; the container id stands in
        when it cannot be read: publication is already proven."""
        owner, since, text = account.external_id, read_back_since(post), self._api.text(post)
        edge = self._api.replies if post.reply_to and self._api.replies else self._api.recent
        try:
            found = find_recent(self._client, token, owner, edge, text, since)
        except ReadBackError:
            found = None
        return Published(found or f"container:{container}")
