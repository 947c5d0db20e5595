"""Posts and accounts as values: what common.posts and common.accounts store, what
policy.decide reads, what adapters send.

Pure: no I/O and no database driver (an import contract in pyproject.toml), so every layer may
use it (the domain, the state, the adapters, the transports).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from bson import ObjectId

from common.media_rules import MastodonInstanceLimits

# A stored document as pymongo hands it over (common.db re-exports it for the state layer).
Doc = dict[str, Any]

# lastError codes of posts waiting for their account's re-authentication.
AUTH_EXPIRED = "auth_expired"
ACCOUNT_INACTIVE = "account_inactive"
# `importing`: a bulk import's rows, invisible to runs until every row is in.
# `draft` and `pending_approval`: planned but never published until approved (`scheduled`);
# no run's query matches them (the due query names `scheduled` only).
# `waiting`: a follow-up (a first comment, a thread's next part) until its parent is published.
PostStatus = Literal[
    "waiting",
    "draft",
    "pending_approval",
    "importing",
    "scheduled",
    "publishing",
    "published",
    "failed",
    "unknown",
    "canceled",
]
# The state a new post starts in: ready to go out, a draft, or waiting for an approver.
Stage = Literal["scheduled", "draft", "pending_approval"]
STAGES: tuple[Stage, ...] = get_args(Stage)
STATUSES: tuple[PostStatus, ...] = get_args(PostStatus)


@dataclass(frozen=True)
class Media:
    url: str
    type: Literal["image", "video"] = "image"
    alt: str = ""  # alt text, for networks that carry it (Bluesky)
    # An uploaded item (common.media_records): its id and the bucket object chosen for the
    # post's network; the URL is signed at each attempt (common.media_links), never stored.
    media_id: str | None = None
    object_name: str | None = None


Visibility = Literal["public", "unlisted", "private", "direct"]
VISIBILITIES: tuple[Visibility, ...] = ("public", "unlisted", "private", "direct")


@dataclass(frozen=True)
class Content:
    text: str = ""
    link: str | None = None
    media: tuple[Media, ...] = ()
    # Mastodon only: text shown before the post (its `spoiler_text`), and who may see it.
    content_warning: str | None = None
    visibility: Visibility | None = None

    def to_doc(self) -> Doc:
        doc: Doc = {
            "text": self.text,
            "link": self.link,
            "media": [_media_doc(m) for m in self.media],
        }
        # Stored only when given, so posts without them keep their old shape.
        if self.content_warning:
            doc["contentWarning"] = self.content_warning
        if self.visibility:
            doc["visibility"] = self.visibility
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Content:
        media = tuple(_media(m) for m in doc.get("media") or ())
        return cls(
            text=doc.get("text") or "",
            link=doc.get("link"),
            media=media,
            content_warning=doc.get("contentWarning"),
            visibility=doc.get("visibility"),
        )


def _media_doc(media: Media) -> Doc:
    """Alt text is stored only when given, so posts without it keep their old shape; an
    uploaded item is stored by id and object, without a URL."""
    doc: Doc = (
        {"mediaId": media.media_id, "object": media.object_name, "type": media.type}
        if media.media_id
        else {"url": media.url, "type": media.type}
    )
    if media.alt:
        doc["alt"] = media.alt
    return doc


def _media(doc: Mapping[str, Any]) -> Media:
    return Media(
        url=str(doc.get("url") or ""),
        type=doc.get("type", "image"),
        alt=doc.get("alt") or "",
        media_id=doc.get("mediaId"),
        object_name=doc.get("object"),
    )


# What a follow-up is: a comment (or reply) on the post, or the next part of its thread.
FollowUpKind = Literal["comment", "thread"]
# lastError codes of follow-ups stopped because a part before them failed or was canceled.
PARENT_FAILED = "parent_failed"
PARENT_CANCELED = "parent_canceled"


@dataclass(frozen=True)
class FollowUp:
    """Where a follow-up sits: its parent (the post, or the thread's previous part), the thread's
    root post, every post above it (root first), and its kind and place (`part`, from 1)."""

    parent_id: ObjectId
    root_id: ObjectId
    ancestors: tuple[ObjectId, ...]
    kind: FollowUpKind
    part: int

    def to_doc(self) -> Doc:
        return {
            "parentId": self.parent_id,
            "threadRootId": self.root_id,
            "ancestors": list(self.ancestors),
            "followUp": self.kind,
            "part": self.part,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> FollowUp | None:
        if doc.get("parentId") is None:
            return None
        return cls(
            parent_id=doc["parentId"],
            root_id=doc["threadRootId"],
            ancestors=tuple(doc.get("ancestors") or ()),
            kind=doc.get("followUp", "thread"),
            part=int(doc.get("part", 1)),
        )


@dataclass(frozen=True)
class Lease:
    run_id: str
    fence: int
    expires_at: datetime


@dataclass(frozen=True)
class Post:
    id: ObjectId
    account_id: str
    platform: str
    content: Content
    scheduled_at: datetime
    time_zone: str
    due_at: datetime
    status: PostStatus
    version: int
    attempts: int = 0
    remote: Mapping[str, str] = field(default_factory=dict)
    lease: Lease | None = None
    send_started_at: datetime | None = None
    group_id: str | None = None
    retried_at: datetime | None = None  # an operator's retry restarts the lateness clock
    # A follow-up: its place under its parent; `reply_to` (set when its parent was published)
    # names what it answers: `id` (and Bluesky's `cid`) of the parent, `rootId` (`rootCid`) of
    # the thread's first post; `released_at`: when that happened (its lateness counts from it).
    follow_up: FollowUp | None = None
    reply_to: Mapping[str, str] = field(default_factory=dict)
    released_at: datetime | None = None
    has_follow_ups: bool = False  # publishing it releases its waiting follow-ups

    @property
    def late_since(self) -> datetime:
        """Lateness (MAX_LATENESS_SECONDS) counts from here."""
        return self.retried_at or self.released_at or self.scheduled_at

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Post:
        lease = doc.get("lease")
        return cls(
            id=doc["_id"],
            account_id=str(doc["accountId"]),
            platform=str(doc["platform"]),
            content=Content.from_doc(doc.get("content") or {}),
            scheduled_at=doc["scheduledAt"],
            time_zone=str(doc.get("timeZone", "UTC")),
            due_at=doc["dueAt"],
            status=doc["status"],
            version=int(doc.get("version", 1)),
            attempts=int(doc.get("attempts", 0)),
            remote=dict(doc.get("remote") or {}),
            lease=Lease(lease["runId"], int(lease["fence"]), lease["expiresAt"]) if lease else None,
            send_started_at=doc.get("sendStartedAt"),
            group_id=doc.get("groupId"),
            retried_at=doc.get("retriedAt"),
            follow_up=FollowUp.from_doc(doc),
            reply_to=dict(doc.get("replyTo") or {}),
            released_at=doc.get("releasedAt"),
            has_follow_ups=bool(doc.get("hasFollowUps")),
        )


@dataclass(frozen=True)
class ErrorInfo:
    """Why a post is where it is: stored as its `lastError`."""

    code: str
    message: str


AccountStatus = Literal["active", "needs_reauth", "disabled"]
PLATFORMS = ("facebook", "instagram", "threads", "bluesky", "mastodon")


@dataclass(frozen=True)
class Account:
    id: str
    platform: str
    external_id: str
    name: str
    token: str  # ciphertext only; see common.tokens (a Bluesky app password for Bluesky)
    status: AccountStatus = "active"
    token_expires_at: datetime | None = None
    paused_until: datetime | None = None
    # The account's own server: a Bluesky PDS or a Mastodon instance; None for Meta.
    service_url: str | None = None
    # A cached login (Bluesky's access and refresh JWTs), ciphertext only like the token.
    session: str | None = None
    # A Mastodon instance's own limits, as last read (None: not read; the defaults apply).
    instance_limits: MastodonInstanceLimits | None = None

    def is_paused(self, now: datetime) -> bool:
        return self.paused_until is not None and self.paused_until > now

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Account:
        return cls(
            id=str(doc["_id"]),
            platform=str(doc["platform"]),
            external_id=str(doc["externalId"]),
            name=str(doc.get("name", "")),
            token=str(doc.get("token", "")),
            status=doc.get("status", "active"),
            token_expires_at=doc.get("tokenExpiresAt"),
            paused_until=doc.get("pausedUntil"),
            service_url=doc.get("serviceUrl"),
            session=doc.get("session"),
            instance_limits=_instance_limits(doc.get("instanceLimits")),
        )


def _instance_limits(doc: Mapping[str, Any] | None) -> MastodonInstanceLimits | None:
    return None if doc is None else MastodonInstanceLimits.from_doc(doc)
