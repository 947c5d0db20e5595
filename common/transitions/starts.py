"""Where every action on a post may start: one pure table (ALLOWED), read by common.posts to
build its conditional writes' filters (posts/states.py) and by `refusal` to explain a write
that matched nothing. Table-tested in tests/unit/test_starting_states.py; the filters are
checked against `allows` on the wire server in tests/db/test_starting_filters.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Literal

from common.model import Post, PostStatus

Action = Literal[
    "activate_import",
    "approve",
    "cancel",
    "claim",
    "claim_for_task",
    "discard_import",
    "edit",
    "end_series",
    "hold",
    "mark_found",
    "record_task",
    "release_follow_up",
    "release_held",
    "release_unsent",
    "revive_follow_up",
    "retry",
    "send_back",
    "stop_follow_up",
    "submit",
    "take_over",
]


@dataclass(frozen=True)
class From:
    """A state an action may start from: a status, narrowed (for `publishing`) by the send and
    the lease. `unsent`: only while no send has begun, so the post cannot be on the platform.
    `lease_expired`: only once the holder's lease ran out (its runner died)."""

    status: PostStatus
    unsent: bool = False
    lease_expired: bool = False


class Refusal(Enum):
    """Why an action was refused: what an operator is told."""

    NOT_FOUND = "no such post"
    SEND_BEGUN = "its send has begun"
    FINISHED = "it is already published or canceled"
    NOT_RETRYABLE = "only failed or unknown posts can be retried"
    NOT_EDITABLE = "only scheduled posts and drafts can be edited"
    NOT_DRAFT = "only drafts can be submitted for approval"
    NOT_PENDING = "only posts awaiting approval can be approved or sent back"
    TOO_LATE = "its time is longer ago than MAX_LATENESS_SECONDS; send it back for a new time"
    STALE = "it was changed since that version was read"
    TAKEN = "another runner or an operator changed it first"


@dataclass(frozen=True)
class Allowed:
    """An action's starting states, and its refusal when the post is in none of them."""

    starts: tuple[From, ...]
    otherwise: Refusal


_SCHEDULED, _UNSENT_CLAIM = From("scheduled"), From("publishing", unsent=True)
_ABANDONED = From("publishing", lease_expired=True)
_DRAFT, _PENDING = From("draft"), From("pending_approval")
_WAITING = From("waiting")

# The one table of where every action on a post may start. common.posts builds its conditional
# writes' filters from it (posts.starting_filter); `refusal` explains a write that matched
# nothing from it. Who holds the lease, the version and the due time are the caller's
# conditions on top. Claimed posts then move by `decide`, settled through the lease (`hold`).
ALLOWED: Mapping[Action, Allowed] = {
    # Operators: a post that may already be on its way to the platform is left alone.
    "edit": Allowed((_SCHEDULED, _UNSENT_CLAIM, _DRAFT), Refusal.NOT_EDITABLE),
    "cancel": Allowed(
        (_SCHEDULED, From("failed"), From("unknown"), _UNSENT_CLAIM, _DRAFT, _PENDING, _WAITING),
        Refusal.FINISHED,
    ),
    "retry": Allowed((From("failed"), From("unknown")), Refusal.NOT_RETRYABLE),
    # Planning: a draft is submitted; an approver approves it (it becomes `scheduled`, due at
    # its time, judged by the lateness rule) or sends it back to `draft` with a comment.
    "submit": Allowed((_DRAFT,), Refusal.NOT_DRAFT),
    "approve": Allowed((_PENDING,), Refusal.NOT_PENDING),
    "send_back": Allowed((_PENDING,), Refusal.NOT_PENDING),
    # Ending a series cancels its occurrences not yet on their way (sent ones stay as they are).
    "end_series": Allowed((_SCHEDULED, _UNSENT_CLAIM, _DRAFT, _PENDING), Refusal.FINISHED),
    # Re-authentication releases the account's posts held for it.
    "release_held": Allowed((_SCHEDULED,), Refusal.TAKEN),
    # Bulk import: staged rows become scheduled together, or are removed together.
    "activate_import": Allowed((From("importing"),), Refusal.TAKEN),
    "discard_import": Allowed((From("importing"),), Refusal.TAKEN),
    # A run: due posts, and posts whose runner died (the send is looked for, never repeated).
    "claim": Allowed((_SCHEDULED,), Refusal.TAKEN),
    "take_over": Allowed((_ABANDONED,), Refusal.TAKEN),
    "record_task": Allowed((_SCHEDULED,), Refusal.TAKEN),
    "claim_for_task": Allowed((_SCHEDULED, _ABANDONED), Refusal.TAKEN),
    # The lease holder: record ids, begin the send, settle, renew; or give back unsent posts.
    "hold": Allowed((From("publishing"),), Refusal.TAKEN),
    "release_unsent": Allowed((_UNSENT_CLAIM,), Refusal.TAKEN),
    # Reconciliation found an unknown post on the platform.
    "mark_found": Allowed((From("unknown"),), Refusal.TAKEN),
    # Follow-ups (a first comment, a thread's parts): a post's publication (by the answer, a
    # read-back or reconciliation) releases its waiting children (`scheduled`, due now); a part
    # that fails or is canceled stops every waiting part below it; an operator's retry of a
    # failed part brings the parts it stopped back to waiting. An `unknown` part stops nothing:
    # its children wait until reconciliation or an operator settles it.
    "release_follow_up": Allowed((_WAITING,), Refusal.TAKEN),
    "stop_follow_up": Allowed((_WAITING,), Refusal.TAKEN),
    "revive_follow_up": Allowed((From("failed"),), Refusal.TAKEN),
}


def _in_state(start: From, post: Post, now: datetime) -> bool:
    if post.status != start.status:
        return False
    if start.unsent and post.send_started_at is not None:
        return False
    expired = post.lease is not None and post.lease.expires_at < now
    return expired or not start.lease_expired


def allows(action: Action, post: Post, now: datetime) -> bool:
    """Whether `action` may start from the post's state (the table, read in Python)."""
    return any(_in_state(start, post, now) for start in ALLOWED[action].starts)


def refusal(
    action: Action, post: Post | None, now: datetime, *, version: int | None = None
) -> Refusal | None:
    """Why `action` cannot start from the post as read now: for a conditional write that
    matched nothing, read after the fact. None: the post is in a state the action may start
    from (it moved back meanwhile; trying again may succeed).

    A version read earlier that no longer matches is STALE, unless the send has begun since,
    which is the reason that matters; a claimed post whose send has begun is SEND_BEGUN; any
    other state outside the action's row gets the row's own refusal.
    """
    if post is None:
        return Refusal.NOT_FOUND
    sent = post.status == "publishing" and post.send_started_at is not None
    if version is not None and post.version != version and not sent:
        return Refusal.STALE
    if allows(action, post, now):
        return None
    if sent:
        return Refusal.SEND_BEGUN
    return ALLOWED[action].otherwise
