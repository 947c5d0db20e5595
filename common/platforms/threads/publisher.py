"""Threads posts: text, image, video and carousel (2 to 20 items), by the Graph API's container
flow (common.platforms.meta.containers) on graph.threads.net's `threads` and `threads_publish`
edges: a text post is two requests. A first comment or a thread's next part is a reply: its
container names the post it answers (`reply_to_id`), and it is found again among the profile's
`replies`.

The 250-posts-per-24-hours quota is read from `threads_publishing_limit` at most once per
IG_QUOTA_CACHE_SECONDS per account and counted locally in between.
"""

from __future__ import annotations

from typing import Any

from common.model import Media, Post
from common.platforms.meta.containers import ContainerApi
from common.platforms.meta.readback import THREADS_POSTS, THREADS_REPLIES


def _text(post: Post) -> str:
    """A link goes at the end of the text (Threads makes it a link preview)."""
    text, link = post.content.text, post.content.link
    if link and link not in text:
        return f"{text}\n\n{link}" if text else link
    return text


def _item(media: Media, carousel_child: bool) -> dict[str, Any]:
    if media.type == "video":
        params: dict[str, Any] = {"media_type": "VIDEO", "video_url": media.url}
    else:
        params = {"media_type": "IMAGE", "image_url": media.url}
    if media.alt:
        params["alt_text"] = media.alt
    if carousel_child:
        params["is_carousel_item"] = True
    return params


THREADS = ContainerApi(
    platform="threads",
    create_edge="threads",
    publish_edge="threads_publish",
    quota_edge="threads_publishing_limit",
    status_field="status",
    status_fields="status,error_message",
    text_param="text",
    recent=THREADS_POSTS,
    item=_item,
    text=_text,
    text_only="TEXT",
    reply_param="reply_to_id",
    replies=THREADS_REPLIES,
)
