"""Bluesky posts: text with link and mention facets, up to four images with alt text, or a
link card.

The one write is `createRecord` with our record key (`record_key`): the PDS refuses a second
record under the same key, so repeating the create after an unclear answer cannot make a second
post. Before it, images are uploaded with `uploadBlob` (unreferenced blobs are dropped by the
PDS, so an upload is safe to repeat) and mentions are resolved to DIDs. After an unclear answer,
`find_published` asks `getRecord` for the key, which says for certain whether it was written.
A reply (a first comment, a thread's next part) names its parent and its thread's root as
strong refs (`reply.parent`, `reply.root`: URI and cid), so each post's cid is kept with it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from common.clock import utcnow
from common.jsonfmt import to_rfc3339
from common.media_rules import LIMITS
from common.model import Account, Media, Post
from common.platforms.base import (
    Outcome,
    Permanent,
    PublishContext,
    Published,
    Withdrawn,
)
from common.platforms.bluesky.record_key import record_key
from common.platforms.bluesky.richtext import facets, mention_spans
from common.platforms.bluesky.sessions import Session, SessionKeeper
from common.platforms.bluesky.xrpc import (
    EXPIRED_TOKEN,
    XrpcClient,
    XrpcError,
    XrpcReply,
)
from common.platforms.credentials import ReadBackError
from common.platforms.http import Method
from common.platforms.media_fetch import MediaFetcher

COLLECTION = "app.bsky.feed.post"
CREATE_RECORD = "com.atproto.repo.createRecord"
GET_RECORD = "com.atproto.repo.getRecord"
UPLOAD_BLOB = "com.atproto.repo.uploadBlob"
RESOLVE_HANDLE = "com.atproto.identity.resolveHandle"
# The app.bsky.embed.images lexicon: at most 4 images of at most 2,000,000 bytes each (one
# table for every network: common.media_rules; sources in docs/media-limits.md).
MAX_IMAGES = LIMITS["bluesky"].max_items
MAX_IMAGE_BYTES = LIMITS["bluesky"].max_image_bytes or 0


class BlueskyPublisher:
    platform = "bluesky"

    def __init__(
        self,
        client: XrpcClient,
        sessions: SessionKeeper,
        media: MediaFetcher,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._clock = clock
        self._media = media

    # --- publishing -----------------------------------------------------------------------

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        if not account.service_url:
            return Permanent("account_incomplete", "the Bluesky account has no PDS URL")
        session = self._sessions.current(account)
        if not isinstance(session, Session):
            return session
        record = self._record(post, account, session)
        if not isinstance(record, dict):
            return record
        rkey = record_key(post.id)
        if not ctx.begin_send({"rkey": rkey, "repo": session.did}):
            return Withdrawn("post changed or taken over before send")
        # An unclear answer goes back as it is: the run asks getRecord (find_published) first.
        return self._create(account, session, rkey, record)

    def _create(
        self, account: Account, session: Session, rkey: str, record: dict[str, Any]
    ) -> Outcome:
        body = {"repo": session.did, "collection": COLLECTION, "rkey": rkey, "record": record}
        reply = self._authorized(account, session, "POST", CREATE_RECORD, body=body, send=True)
        if isinstance(reply, XrpcReply):
            return _published(reply.body)
        return reply

    def _authorized(
        self,
        account: Account,
        session: Session,
        method: Method,
        nsid: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        send: bool = False,
    ) -> XrpcReply | Outcome:
        """A call with the session's access JWT; an expired one is refreshed and the call made
        once more (a refused create wrote nothing, and our record key guards the repeat)."""
        assert account.service_url is not None
        service = account.service_url

        def call(with_session: Session) -> XrpcReply | XrpcError | Outcome:
            return self._client.call(
                method,
                service,
                nsid,
                bearer=with_session.access_jwt,
                body=body,
                params=params,
                data=data,
                content_type=content_type,
                idempotent=not send,
            )

        reply = call(session)
        if isinstance(reply, XrpcError) and reply.error == EXPIRED_TOKEN:
            refreshed = self._sessions.refresh(account, session)
            if not isinstance(refreshed, Session):
                return refreshed
            reply = call(refreshed)
        if isinstance(reply, XrpcError):
            return self._client.classify(reply, idempotent=not send)
        return reply

    # --- the record -----------------------------------------------------------------------

    def _record(self, post: Post, account: Account, session: Session) -> dict[str, Any] | Outcome:
        text = post.content.text
        resolved = self._mentions(account, session, text)
        if not isinstance(resolved, dict):
            return resolved
        record: dict[str, Any] = {
            "$type": COLLECTION,
            "text": text,
            "createdAt": to_rfc3339(self._clock()),
        }
        found = facets(text, resolved.get)
        if found:
            record["facets"] = found
        embed = self._embed(post, account, session)
        if not isinstance(embed, dict | None):
            return embed
        if embed is not None:
            record["embed"] = embed
        if post.reply_to:
            reply = _reply(post)
            if reply is None:
                return Permanent("reply_incomplete", "the post it answers has no record cid")
            record["reply"] = reply
        return record

    def _mentions(self, account: Account, session: Session, text: str) -> dict[str, str] | Outcome:
        """Handle -> DID for every mention that resolves; an unknown handle stays plain text."""
        dids: dict[str, str] = {}
        for span in mention_spans(text):
            reply = self._authorized(
                account, session, "GET", RESOLVE_HANDLE, params={"handle": span.value}
            )
            if isinstance(reply, XrpcReply):
                dids[span.value] = str(reply.body["did"])
            elif not isinstance(reply, Permanent):
                return reply  # transient or auth: the whole post waits
        return dids

    def _embed(
        self, post: Post, account: Account, session: Session
    ) -> dict[str, Any] | Outcome | None:
        if post.content.media:
            images = []
            for media in post.content.media[:MAX_IMAGES]:
                blob = self._upload(account, session, media)
                if not isinstance(blob, dict):
                    return blob
                images.append({"alt": media.alt, "image": blob})
            return {"$type": "app.bsky.embed.images", "images": images}
        if post.content.link:
            return _link_card(post.content.link)
        return None

    def _upload(self, account: Account, session: Session, media: Media) -> dict[str, Any] | Outcome:
        # Bluesky stores the blob itself; it does not fetch URLs.
        fetched = self._media.fetch(media.url, MAX_IMAGE_BYTES, ("image/",))
        if not isinstance(fetched, tuple):
            return fetched
        data, mime = fetched
        reply = self._authorized(
            account, session, "POST", UPLOAD_BLOB, data=data, content_type=mime
        )
        if not isinstance(reply, XrpcReply):
            return reply
        blob: dict[str, Any] = reply.body["blob"]
        return blob

    # --- finding a post again -------------------------------------------------------------

    def find_published(self, post: Post, account: Account) -> Published | None:
        """getRecord for the post's record key: found means written, for certain."""
        rkey, repo = post.remote.get("rkey"), post.remote.get("repo")
        if not rkey or not repo:
            return None  # begin_send stores both, so nothing was sent
        if not account.service_url:
            raise ReadBackError("the account has no PDS URL")
        params = {"repo": repo, "collection": COLLECTION, "rkey": rkey}
        reply = self._client.call(
            "GET", account.service_url, GET_RECORD, params=params, idempotent=True
        )
        if isinstance(reply, XrpcReply):
            return _published({"uri": f"at://{repo}/{COLLECTION}/{rkey}", **reply.body})
        if isinstance(reply, XrpcError) and reply.error == "RecordNotFound":
            return None
        reason = reply.error if isinstance(reply, XrpcError) else type(reply).__name__
        raise ReadBackError(f"getRecord failed: {reason}")


def _published(body: dict[str, Any]) -> Published:
    """The record's URI is its id; its cid is kept too: a reply to it must name both."""
    cid = body.get("cid")
    return Published(str(body["uri"]), {"cid": str(cid)} if cid else None)


def _reply(post: Post) -> dict[str, Any] | None:
    """`reply.root` and `reply.parent` as strong refs (common.posts.follow_ups set them when
    the parent was published); None when a cid is missing."""
    refs = post.reply_to
    root_cid, parent_cid = refs.get("rootCid"), refs.get("cid")
    if not root_cid or not parent_cid:
        return None
    return {
        "root": {"uri": refs["rootId"], "cid": root_cid},
        "parent": {"uri": refs["id"], "cid": parent_cid},
    }


def _link_card(link: str) -> dict[str, Any]:
    """An external embed. The title is the link's host: fetching the page for its title and
    description would make the send depend on a third site."""
    return {
        "$type": "app.bsky.embed.external",
        "external": {"uri": link, "title": urlsplit(link).hostname or link, "description": ""},
    }
