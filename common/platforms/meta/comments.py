"""First comments on Facebook Page posts and Instagram media: `POST /{object-id}/comments`
with the comment's `message`, the one non-idempotent call of a comment.

A comment is a follow-up post (common.posts.follow_ups): its `reply_to.id` is the published
post's id, set when that post went out. After an unclear answer the object's comments are read
back, newest first, and one with the comment's exact text made since the send is the comment.
"""

from __future__ import annotations

from common.model import Post
from common.platforms.base import Outcome, Permanent, PublishContext, Published, Withdrawn
from common.platforms.meta.graph import GraphClient, GraphReply
from common.platforms.meta.readback import RecentEdge, find_recent, found, read_back_since

# Graph's comments edges: a Page post's comments carry `message` and `created_time` (asked
# newest first: the edge's default order is chronological); Instagram's carry `text` and
# `timestamp`.
PAGE_POST_COMMENTS = RecentEdge(
    "comments", "message", "created_time", declares_since=False, order="reverse_chronological"
)
IG_COMMENTS = RecentEdge("comments", "text", "timestamp", declares_since=False)


def publish_comment(client: GraphClient, token: str, post: Post, ctx: PublishContext) -> Outcome:
    """The comment under the post its `reply_to` names (text only: Graph comments made here
    carry no media)."""
    if post.content.media:
        return Permanent("unsupported_media", "a first comment carries text only")
    if not post.content.text.strip():
        return Permanent("empty_comment", "a first comment needs text")
    if not ctx.begin_send():
        return Withdrawn("post changed or taken over before send")
    target = post.reply_to["id"]
    params = {"message": post.content.text}
    reply = client.call("POST", f"{target}/comments", token, params, idempotent=False)
    if not isinstance(reply, GraphReply):
        return reply
    return Published(str(reply.body["id"]))


def find_comment(client: GraphClient, token: str, post: Post, edge: RecentEdge) -> Published | None:
    """The comment, by its text, among the object's comments made since the send."""
    if post.send_started_at is None:
        return None  # begin_send marks the send, so nothing was sent
    target, text = post.reply_to["id"], post.content.text
    return found(find_recent(client, token, target, edge, text, read_back_since(post)))
