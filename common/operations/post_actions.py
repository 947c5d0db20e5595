"""Operator actions on one post: cancel, retry, edit; a refusal says why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal

from bson import ObjectId
from pymongo.database import Database

from common import accounts, model, posts
from common.db import Doc
from common.operations.scheduling import (
    Invalid,
    NoSuchAccount,
    PostRequest,
    admit_media,
    plan_post,
)
from common.validation import Problem


class Refusal(Enum):
    """Why an operator action on a post was refused."""

    NOT_FOUND = "no such post"
    SEND_BEGUN = "its send has begun"
    FINISHED = "it is already published or canceled"
    NOT_RETRYABLE = "only failed or unknown posts can be retried"
    NOT_EDITABLE = "only scheduled posts can be edited"
    STALE = "it was changed since that version was read"


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    status: model.PostStatus | None  # the post's status when refused (None: no such post)


@dataclass(frozen=True)
class Done:
    post_id: ObjectId


Action = Literal["cancel", "retry", "edit"]


def cancel_post(db: Database[Doc], post_id: ObjectId, now: datetime) -> Done | Refused:
    """Cancel unless it is published or its send has begun (then it may already be out)."""
    if posts.cancel(db, post_id, now):
        return Done(post_id)
    return _refusal(db, post_id, "cancel")


def retry_post(db: Database[Doc], post_id: ObjectId, now: datetime) -> Done | Refused:
    if posts.retry(db, post_id, now):
        return Done(post_id)
    return _refusal(db, post_id, "retry")


@dataclass(frozen=True)
class PostChanges:
    """What an edit replaces; None keeps the current value."""

    text: str | None = None
    link: str | None = None
    media: Sequence[Mapping[str, str]] | None = None
    scheduled_at: str | None = None
    time_zone: str | None = None
    allow_late: bool = False


def edit_post(
    db: Database[Doc],
    post_id: ObjectId,
    changes: PostChanges,
    now: datetime,
    *,
    max_lateness: timedelta,
    version: int | None = None,
) -> Done | Refused | Invalid:
    """Change a scheduled post's content or time, checked like a new one.

    With `version`, only that version is changed (a stale edit is refused); the write is always
    conditional on the version read here, so a concurrent change is never overwritten.
    """
    post = posts.get(db, post_id)
    if post is None:
        return Refused(Refusal.NOT_FOUND, None)
    if version is not None and post.version != version:
        return Refused(Refusal.STALE, post.status)
    request = _edited_request(post, changes)
    planned = plan_post(request, accounts.get(db, post.account_id), now, max_lateness)
    if isinstance(planned, NoSuchAccount):
        return Invalid((Problem("accountId", f"no account {post.account_id!r}"),))
    if isinstance(planned, Invalid):
        return planned
    admitted = admit_media(db, planned.new, now)
    if isinstance(admitted, Invalid):
        return admitted
    when = admitted.when if changes.scheduled_at is not None else None
    if posts.edit_content(db, post_id, admitted.content, now, when=when, version=post.version):
        return Done(post_id)
    return _refusal(db, post_id, "edit", post.version)


def _edited_request(post: model.Post, changes: PostChanges) -> PostRequest:
    content = post.content
    media = [
        {"url": m.url, "type": m.type, **({"alt": m.alt} if m.alt else {})} for m in content.media
    ]
    moved = changes.scheduled_at is not None
    return PostRequest(
        account_id=post.account_id,
        scheduled_at=post.scheduled_at.isoformat()
        if changes.scheduled_at is None
        else changes.scheduled_at,
        time_zone=changes.time_zone or post.time_zone,
        text=content.text if changes.text is None else changes.text,
        link=content.link if changes.link is None else changes.link,
        media=media if changes.media is None else changes.media,
        # The time it already has may have passed; only a new time must lie ahead.
        allow_late=changes.allow_late or not moved,
        content_warning=content.content_warning,
        visibility=content.visibility,
    )


def _refusal(
    db: Database[Doc], post_id: ObjectId, action: Action, version: int | None = None
) -> Refused:
    """Why the conditional write matched nothing, read after the fact (refusals are rare)."""
    post = posts.get(db, post_id)
    if post is None:
        return Refused(Refusal.NOT_FOUND, None)
    if version is not None and post.version != version and post.send_started_at is None:
        return Refused(Refusal.STALE, post.status)
    if post.status == "publishing" and post.send_started_at is not None:
        return Refused(Refusal.SEND_BEGUN, post.status)
    if action == "retry":
        return Refused(Refusal.NOT_RETRYABLE, post.status)
    if action == "edit":
        return Refused(Refusal.NOT_EDITABLE, post.status)
    return Refused(Refusal.FINISHED, post.status)
