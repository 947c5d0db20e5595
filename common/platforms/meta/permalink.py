"""Instagram and Threads posts' permalinks: neither network returns one when publishing, but
each post has a `permalink` field (`GET /{media-id}?fields=permalink`, with the account's
token; developers.facebook.com/docs/instagram-platform/reference/instagram-media and
/docs/threads/reference/posts). Read on demand and stored on the post."""

from __future__ import annotations

from datetime import datetime

from common.model import Account
from common.platforms.base import Failure, Permanent, failure_reason
from common.platforms.credentials import open_token
from common.platforms.meta.graph import GraphClient, GraphReply
from common.tokens import TokenCipher


class PermalinkReader:
    platforms: tuple[str, ...] = ("instagram", "threads")

    def __init__(self, graph: GraphClient, threads: GraphClient, cipher: TokenCipher) -> None:
        self._clients = {"instagram": graph, "threads": threads}
        self._cipher = cipher

    def read(self, account: Account, media_id: str, now: datetime) -> str | Failure:
        client = self._clients.get(account.platform)
        if client is None:
            return Permanent("no_permalink", f"{account.platform} posts have no permalink field")
        token = open_token(self._cipher, account, now)
        if not isinstance(token, str):
            return Permanent("token_key_error", failure_reason(token))
        reply = client.call("GET", media_id, token, {"fields": "permalink"}, idempotent=True)
        if not isinstance(reply, GraphReply):
            return reply
        link = reply.body.get("permalink")
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            return Permanent("no_permalink", "the network answered without a permalink")
        return link
