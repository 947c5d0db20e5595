"""The work on one claimed post: decide, act, decide again, then settle.

A run's worker threads call this for each post they claimed (the engine), and so will a
per-post publisher. Between `decide` (common.transitions, pure) and `settle` (the lease handle,
common.posts) it does the I/O the decision asks for: the send through the adapter, a look on
the platform, the account's pause or re-authentication mark, and the outcome's event.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from pymongo.database import Database

from common import accounts
from common.db import Doc
from common.events import (
    ACCOUNT_NEEDS_REAUTH,
    POST_FAILED,
    POST_PUBLISHED,
    POST_UNKNOWN,
    EventSink,
)
from common.media_links import MediaLinks
from common.model import Account, Post
from common.platforms.base import Ambiguous, Outcome, Permanent, Publisher, Registry, Retryable
from common.posts.lease import ClaimedPost, LeaseLost, Settled
from common.transitions.policy import (
    AccountEffect,
    AccountSeen,
    Decision,
    Due,
    Event,
    Fail,
    Kind,
    Look,
    Looked,
    MarkPublished,
    MarkUnknown,
    NeedsReauth,
    PauseAccount,
    Reschedule,
    Rules,
    Send,
    Skip,
    Transition,
    decide,
    kind_of,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostResult:
    """How the post ended in this run, and what the run learnt about its account."""

    kind: Kind | None  # None: the lease was lost and nothing was stored
    seen: AccountSeen
    due_again_at: datetime | None = None  # rescheduled: when the post is next due


def look(publisher: Publisher | None, post_as_sent: Post, account: Account | None) -> Looked:
    """Read the platform back for a post whose send may have happened. Never raises.

    `post_as_sent` is the post as stored (its remote ids and `sendStartedAt` say where and
    from when to look). The same look serves a run and `socialsched posts reconcile`.
    """
    if publisher is None or account is None:
        missing = "account" if account is None else f"publisher for {post_as_sent.platform}"
        return Looked(None, failed=f"no {missing}")
    try:
        return Looked(publisher.find_published(post_as_sent, account))
    except Exception as exc:
        log.warning("look on the platform failed", extra={"error": type(exc).__name__})
        return Looked(None, failed=str(exc) or type(exc).__name__)


@dataclass(frozen=True)
class PostWork:
    """What the per-post work needs from its run (or function instance)."""

    db: Database[Doc]
    registry: Registry
    rules: Rules
    events: EventSink
    clock: Callable[[], datetime]
    media: MediaLinks
    rng: random.Random = field(default_factory=random.Random)  # jitter, not security

    def publish(
        self, claimed: ClaimedPost, account: Account | None, seen: AccountSeen
    ) -> PostResult:
        publisher = self.registry.get(claimed.post.platform)
        event: Event = Due()
        while True:
            decision = self._decide(event, claimed, account, seen)
            seen = self._apply_account_effect(decision, claimed, seen)
            step = decision.step
            if isinstance(step, Send):
                event = self._send(claimed, account, publisher)
            elif isinstance(step, Look):
                event = replace(look(publisher, claimed.post, account), after=step.after)
            else:
                return self._settle(claimed, step, seen)

    def _decide(
        self, event: Event, claimed: ClaimedPost, account: Account | None, seen: AccountSeen
    ) -> Decision:
        return decide(
            event,
            claimed.post,
            account,
            self.rules,
            self.clock(),
            seen=seen,
            jitter=self.rng.random(),
        )

    def _send(
        self, claimed: ClaimedPost, account: Account | None, publisher: Publisher | None
    ) -> Outcome:
        post = claimed.post
        if account is None:  # decide fails a post without an account before any send
            return Permanent("account_not_found", "the post's account does not exist")
        if publisher is None:
            return Permanent("unsupported_platform", f"no publisher for {post.platform}")
        try:
            return publisher.publish(self.media.signed(post), account, claimed)
        except Exception as exc:
            # Adapters return outcomes; an exception is a bug. Whether it is safe to retry
            # depends only on whether the send had begun.
            log.exception("publisher raised")
            reason = f"adapter error: {type(exc).__name__}"
            sent = claimed.post.send_started_at is not None
            return Ambiguous(reason) if sent else Retryable(reason)

    def _apply_account_effect(
        self, decision: Decision, claimed: ClaimedPost, seen: AccountSeen
    ) -> AccountSeen:
        if decision.catch_up_next is not None:
            seen = replace(seen, catch_up_next=decision.catch_up_next)
        effect: AccountEffect | None = decision.account_effect
        if effect is None:
            return seen
        post, now = claimed.post, self.clock()
        if isinstance(effect, PauseAccount):
            accounts.pause_until(self.db, post.account_id, effect.hold.until, now)
        elif isinstance(effect, NeedsReauth) and accounts.mark_needs_reauth(
            self.db, post.account_id, now
        ):
            self.events.emit(
                ACCOUNT_NEEDS_REAUTH,
                {"accountId": post.account_id, "platform": post.platform, "runId": claimed.run_id},
            )
        return replace(seen, hold=effect.hold)

    def _settle(
        self, claimed: ClaimedPost, transition: Transition, seen: AccountSeen
    ) -> PostResult:
        settled = claimed.settle(transition)
        if isinstance(settled, LeaseLost):
            # Another runner took the post after our lease expired; its result stands.
            log.error("lease lost before the outcome was recorded")
            return PostResult(None, seen)
        assert isinstance(settled, Settled)
        self._emit(claimed, transition)
        kind = kind_of(transition)
        _log_settled(claimed.post, transition, kind)
        due_again = transition.due_at if isinstance(transition, Reschedule) else None
        return PostResult(kind, seen, due_again)

    def _emit(self, claimed: ClaimedPost, transition: Transition) -> None:
        """An outcome event for a post whose outcome this run recorded (never the text)."""
        post = claimed.post
        base = {
            "postId": str(post.id),
            "accountId": post.account_id,
            "platform": post.platform,
            "runId": claimed.run_id,
        }
        if isinstance(transition, MarkPublished):
            self.events.emit(
                POST_PUBLISHED, {**base, "platformPostId": transition.platform_post_id}
            )
        elif isinstance(transition, Fail):
            self.events.emit(POST_FAILED, {**base, "code": transition.error.code})
        elif isinstance(transition, MarkUnknown):
            self.events.emit(POST_UNKNOWN, base)


def _log_settled(post: Post, transition: Transition, kind: Kind) -> None:
    """One line per post outcome, from a run and from the publish function alike (the local
    stack's console prints it; in the cloud, a log query by postId follows one post). Ids,
    the outcome and its code only: never the text or a token."""
    fields: dict[str, object] = {
        "postId": str(post.id),
        "accountId": post.account_id,
        "platform": post.platform,
        "outcome": kind,
    }
    if isinstance(transition, MarkPublished):
        fields["platformPostId"] = transition.platform_post_id
    elif isinstance(transition, Skip):
        fields["reason"] = transition.reason
    if isinstance(transition, Fail | Reschedule) and transition.error is not None:
        fields["code"] = transition.error.code
    if isinstance(transition, Reschedule):
        fields["dueAt"] = transition.due_at
    log.info("post settled", extra=fields)
