"""Facebook Pages: text and link posts, one photo, or several photos in one post; and a post's
first comment (common.platforms.meta.comments).

The feed or photo POST is the one non-idempotent call. Unpublished photo uploads (for a
multi-photo post) are invisible, so they are stored on the post and reused, never a risk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from common.clock import utcnow
from common.model import Account, Post
from common.platforms.base import (
    Outcome,
    Permanent,
    PublishContext,
    Published,
    Withdrawn,
)
from common.platforms.credentials import ReadBackError, open_token, token_for_read_back
from common.platforms.meta.comments import PAGE_POST_COMMENTS, find_comment, publish_comment
from common.platforms.meta.graph import GraphClient, GraphReply, create_each
from common.platforms.meta.readback import (
    PAGE_POSTS,
    find_recent,
    found,
    read_back_since,
)
from common.tokens import TokenCipher


class FacebookPublisher:
    platform = "facebook"

    def __init__(
        self, client: GraphClient, cipher: TokenCipher, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._client = client
        self._cipher = cipher
        self._clock = clock

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        token = open_token(self._cipher, account, self._clock())
        if not isinstance(token, str):
            return token
        if post.reply_to:  # a first comment, under the Page post it follows
            return publish_comment(self._client, token, post, ctx)
        media = post.content.media
        if any(m.type != "image" for m in media):
            return Permanent("unsupported_media", "Facebook posts here carry photos only")
        page = account.external_id
        text = post.content.text
        if not media:
            params = {"message": text or None, "link": post.content.link}
            return self._send(post, account, token, ctx, f"{page}/feed", params, {})
        if len(media) == 1:
            params = {"url": media[0].url, "caption": text or None}
            return self._send(post, account, token, ctx, f"{page}/photos", params, {})
        return self._multi_photo(post, account, token, ctx)

    def _multi_photo(
        self, post: Post, account: Account, token: str, ctx: PublishContext
    ) -> Outcome:
        page = account.external_id
        photo_ids = _stored_photos(post, len(post.content.media))
        if photo_ids is None:
            uploads = ({"url": item.url, "published": False} for item in post.content.media)
            made = create_each(self._client, f"{page}/photos", token, uploads)
            if not isinstance(made, list):
                return made
            photo_ids = made
        params: dict[str, Any] = {"message": post.content.text or None}
        for index, photo_id in enumerate(photo_ids):
            params[f"attached_media[{index}]"] = {"media_fbid": photo_id}
        remote = {"photos": ",".join(photo_ids)}
        return self._send(post, account, token, ctx, f"{page}/feed", params, remote)

    def _send(
        self,
        post: Post,
        account: Account,
        token: str,
        ctx: PublishContext,
        path: str,
        params: Mapping[str, Any],
        remote: Mapping[str, str],
    ) -> Outcome:
        if not ctx.begin_send(remote):
            return Withdrawn("post changed or taken over before send")
        # An unclear answer (timeout, transient error) goes back as it is: the caller looks on
        # the page before anything else (common.transitions), with find_published below.
        reply = self._client.call("POST", path, token, params, idempotent=False)
        if not isinstance(reply, GraphReply):
            return reply
        # /photos answers {"id": photo, "post_id": page post}; /feed answers {"id": page post}.
        return Published(str(reply.body.get("post_id") or reply.body["id"]))

    def find_published(self, post: Post, account: Account) -> Published | None:
        token = token_for_read_back(self._cipher, account, self._clock())
        if post.reply_to:
            return find_comment(self._client, token, post, PAGE_POST_COMMENTS)
        if not post.content.text.strip():
            # Page posts are recognised by their exact text; without text nothing proves which
            # post is ours (photo and link posts could be matched on attachments: not yet).
            raise ReadBackError("a post without text cannot be recognised on the page")
        since = read_back_since(post)
        owner, text = account.external_id, post.content.text
        return found(find_recent(self._client, token, owner, PAGE_POSTS, text, since))


def _stored_photos(post: Post, expected: int) -> list[str] | None:
    """Photo ids a previous attempt uploaded (Meta keeps unpublished uploads for about a day)."""
    raw = post.remote.get("photos")
    if not raw:
        return None
    ids = raw.split(",")
    return ids if len(ids) == expected else None
