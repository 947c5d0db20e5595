"""Instagram professional accounts: image, carousel (2-10 items) and reel, by the Graph API's
container flow (common.platforms.meta.containers) on the `media` and `media_publish` edges.

The quota (`content_publishing_limit`) is read, never assumed: Meta's documents say 25, 50 or
100 posts per 24 hours. A post without media is refused (Instagram has no text-only post). A
first comment is a comment on the published media (common.platforms.meta.comments).
"""

from __future__ import annotations

from typing import Any

from common.model import Media, Post
from common.platforms.meta.comments import IG_COMMENTS
from common.platforms.meta.containers import ContainerApi
from common.platforms.meta.readback import IG_MEDIA


def _item(media: Media, carousel_child: bool) -> dict[str, Any]:
    if media.type == "video":
        kind = "VIDEO" if carousel_child else "REELS"
        params: dict[str, Any] = {"media_type": kind, "video_url": media.url}
    else:
        params = {"image_url": media.url}
    if carousel_child:
        params["is_carousel_item"] = True
    return params


def _caption(post: Post) -> str:
    return post.content.text


INSTAGRAM = ContainerApi(
    platform="instagram",
    create_edge="media",
    publish_edge="media_publish",
    quota_edge="content_publishing_limit",
    status_field="status_code",
    status_fields="status_code,status",
    text_param="caption",
    recent=IG_MEDIA,
    item=_item,
    text=_caption,
    text_only=None,
    comments=IG_COMMENTS,
)
