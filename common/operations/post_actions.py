"""Operator actions on one post: cancel, retry, edit (the review of drafts is in
operations.planning); a refusal says why, explained from the one table of the states each
action may start from (starts.ALLOWED), the table the conditional writes in common.posts
are built from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId
from pymongo.database import Database

from common import accounts, model
from common.db import Doc
from common.operations.admission import Admission
from common.operations.scheduling import (
    Invalid,
    NoSuchAccount,
    PostRequest,
    admit_media,
    plan_post,
    url_problems,
)
from common.posts import actions, store
from common.transitions import starts
from common.validation import Problem


@dataclass(frozen=True)
class Refused:
    reason: starts.Refusal
    status: model.PostStatus | None  # the post's status when refused (None: no such post)


@dataclass(frozen=True)
class Done:
    post_id: ObjectId


# A refused write whose post is back in a state the action may start from is tried again:
# it moved meanwhile (a run's claim given back), and a person asked for the action.
ATTEMPTS = 3


def cancel_post(db: Database[Doc], post_id: ObjectId, now: datetime) -> Done | Refused:
    """Cancel unless it is published or its send has begun (then it may already be out)."""
    return act(db, post_id, "cancel", lambda: actions.cancel(db, post_id, now), now)


def retry_post(db: Database[Doc], post_id: ObjectId, now: datetime) -> Done | Refused:
    return act(db, post_id, "retry", lambda: actions.retry(db, post_id, now), now)


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
    admission: Admission,
    *,
    version: int | None = None,
) -> Done | Refused | Invalid:
    """Change a scheduled post's content or time, checked like a new one.

    With `version`, only that version is changed (a stale edit is refused); the write is always
    conditional on the version read here, so a concurrent change is never overwritten.
    """
    post = store.get(db, post_id)
    why = starts.refusal("edit", post, now, version=version)
    if why is not None or post is None:
        return refused(why or starts.Refusal.NOT_FOUND, post)
    request = _edited_request(post, changes)
    planned = plan_post(request, accounts.get(db, post.account_id), now, admission.max_lateness)
    if isinstance(planned, NoSuchAccount):
        return Invalid((Problem("accountId", f"no account {post.account_id!r}"),))
    if isinstance(planned, Invalid):
        return planned
    before = frozenset(m.url for m in post.content.media)
    (by_url,) = url_problems(admission.media_urls, [planned.new], known=before)
    if by_url:
        return Invalid(tuple(by_url))
    admitted = admit_media(db, planned, now)
    if isinstance(admitted, Invalid):
        return admitted
    when = admitted.when if changes.scheduled_at is not None else None
    read = post.version  # the write is conditional on the version this edit was checked on
    draft = post.status == "draft"  # a draft stays one: only approval schedules it
    done = act(
        db,
        post_id,
        "edit",
        lambda: actions.edit_content(
            db, post_id, admitted.content, now, when=when, version=read, draft=draft
        ),
        now,
        version=read,
    )
    if admission.tasks is not None and isinstance(done, Done) and not draft:
        admission.tasks.post_written(db, post_id, when.instant if when else post.due_at, now)
    return done


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


def act(
    db: Database[Doc],
    post_id: ObjectId,
    action: starts.Action,
    write: Callable[[], bool],
    now: datetime,
    *,
    version: int | None = None,
) -> Done | Refused:
    """The conditional write; when it matches nothing, why, read after the fact from the table
    (refusals are rare, so reading the post only then keeps the common case one command)."""
    post = None
    for _ in range(ATTEMPTS):
        if write():
            return Done(post_id)
        post = store.get(db, post_id)
        why = starts.refusal(action, post, now, version=version)
        if why is not None:
            return refused(why, post)
    return refused(starts.Refusal.TAKEN, post)


def refused(why: starts.Refusal, post: model.Post | None) -> Refused:
    return Refused(why, None if post is None else post.status)
