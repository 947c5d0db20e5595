"""The post state machine's policy, pure: what happens to a claimed post next.

`decide(event, post, account, rules, now)` answers every question a publisher asks about one
post: before the send (lateness, the account's hold or pause, the catch-up slot, a send that a
dead runner may have made), after the adapter's outcome (retry, defer, fail, unknown), and after
a look on the platform. It does no I/O and reads no clock: the caller passes `now` and the
jitter draw, so every rule is testable as a table (tests/unit/test_transitions.py).

The caller carries out the decision: `Send` calls the adapter, `Look` reads the platform back,
and every other step is a `Transition` that the post's lease handle settles
(`posts.ClaimedPost.settle`). An `AccountEffect` is applied to the account and, for the rest of
the run, to its other posts (`AccountSeen`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from common.backoff import retry_delay
from common.config import ReconcilePolicy, Settings
from common.model import ACCOUNT_INACTIVE, AUTH_EXPIRED, Account, ErrorInfo, Post
from common.platforms.base import (
    Ambiguous,
    AuthExpired,
    Deferred,
    Outcome,
    Permanent,
    Published,
    RateLimited,
    Retryable,
    Withdrawn,
)

# A post due longer ago than this is part of a backlog (missed ticks, an outage), not on time.
CATCH_UP_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Rules:
    """The settings the policy reads, and nothing else."""

    max_attempts: int
    max_lateness: timedelta
    catch_up_spacing: timedelta
    reauth_hold: timedelta
    retry_base_seconds: float
    retry_max_seconds: float
    reconcile_policy: ReconcilePolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            max_attempts=settings.max_attempts,
            max_lateness=settings.max_lateness,
            catch_up_spacing=timedelta(seconds=settings.catchup_spacing_seconds),
            reauth_hold=timedelta(seconds=settings.reauth_hold_seconds),
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            reconcile_policy=settings.reconcile_policy,
        )


# --- what happened (the input) ------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """The post was just claimed; nothing has been done with it in this run."""


@dataclass(frozen=True)
class Looked:
    """The platform was read back after a send whose result is not known.

    `found`: the post is on the platform. `failed`: the look itself failed (why), so nothing is
    known. `after`: the send's own outcome that led to the look (None: a dead runner's send).
    """

    found: Published | None
    failed: str | None = None
    after: Retryable | Ambiguous | None = None


Event = Due | Looked | Outcome


# --- what to do (the output) --------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Call the adapter."""


@dataclass(frozen=True)
class Look:
    """Read the platform back before anything else: the post may already be there."""

    after: Retryable | Ambiguous | None = None


@dataclass(frozen=True)
class MarkPublished:
    platform_post_id: str
    # How it is known: the network's answer to the send, or a read-back after an unclear one
    # (the web app's proof page says which).
    by_readback: bool = False
    refs: Mapping[str, str] | None = None  # Published.refs: stored in `remote`


@dataclass(frozen=True)
class Reschedule:
    """Back to `scheduled` at `due_at`: a retry (attempt spent) or a deferral (not spent)."""

    due_at: datetime
    error: ErrorInfo | None
    spend_attempt: bool


@dataclass(frozen=True)
class Fail:
    error: ErrorInfo
    spend_attempt: bool = True  # False when nothing was tried (expired before any send)


@dataclass(frozen=True)
class MarkUnknown:
    """The send may have reached the platform: never re-sent blindly; an operator decides."""

    error: ErrorInfo


@dataclass(frozen=True)
class Skip:
    """Nothing to write: the post was withdrawn (cancelled, edited or taken over)."""

    reason: str


Transition = MarkPublished | Reschedule | Fail | MarkUnknown | Skip
Step = Send | Look | Transition


@dataclass(frozen=True)
class AccountHold:
    """The account's posts wait until `until`, for the reason recorded on each held post."""

    until: datetime
    why: ErrorInfo


@dataclass(frozen=True)
class PauseAccount:
    """The platform rate-limits the whole account: pause it (stored) until `hold.until`."""

    hold: AccountHold


@dataclass(frozen=True)
class NeedsReauth:
    """The account's token stopped working: mark it, hold its posts."""

    hold: AccountHold


AccountEffect = PauseAccount | NeedsReauth


@dataclass(frozen=True)
class AccountSeen:
    """What the current run has learnt about the post's account so far.

    `hold`: set by an earlier post's outcome in this run. `catch_up_next`: the account's next
    free catch-up slot. Posts of one account are decided one at a time (keyed work pool).
    """

    hold: AccountHold | None = None
    catch_up_next: datetime | None = None


@dataclass(frozen=True)
class Decision:
    step: Step
    account_effect: AccountEffect | None = None
    catch_up_next: datetime | None = None  # the account's next catch-up slot, when it moved


# --- the policy -----------------------------------------------------------------------------


def decide(
    event: Event,
    post: Post,
    account: Account | None,
    rules: Rules,
    now: datetime,
    *,
    seen: AccountSeen | None = None,
    jitter: float = 0.5,
) -> Decision:
    """The next step for `post` after `event`. `jitter` in [0, 1] spreads retries."""
    seen = seen or AccountSeen()
    if isinstance(event, Due):
        return _before_send(post, account, rules, now, seen)
    if isinstance(event, Looked):
        return _after_look(event, post, account, rules, now, seen, jitter)
    return _after_outcome(event, post, rules, now, jitter)


def _before_send(
    post: Post, account: Account | None, rules: Rules, now: datetime, seen: AccountSeen
) -> Decision:
    if post.send_started_at is not None:
        # A dead runner may have sent it. Look before any deferral: a deferral forgets the
        # send, and the next run would then send without looking.
        return Decision(Look())
    if account is None:
        return Decision(Fail(ErrorInfo("account_not_found", "the post's account does not exist")))
    if too_late(post, rules.max_lateness, now):
        expired = ErrorInfo("expired", "later than MAX_LATENESS_SECONDS")
        return Decision(Fail(expired, spend_attempt=False))
    if (hold := _hold(account, rules, now, seen)) is not None:
        return Decision(Reschedule(hold.until, hold.why, spend_attempt=False))
    return _catch_up(post, rules, now, seen)


def too_late(post: Post, max_lateness: timedelta, now: datetime) -> bool:
    """The lateness rule: a post later than this is never sent (a run fails it as expired, an
    approver is refused)."""
    return now - post.late_since > max_lateness


def _hold(account: Account, rules: Rules, now: datetime, seen: AccountSeen) -> AccountHold | None:
    """Until when, and why, the account's posts wait: a re-auth hold or a rate-limit pause.

    The reason is recorded on each held post, so re-authentication can release exactly the
    posts it held (posts.release_held).
    """
    if account.status != "active":
        why = ErrorInfo(ACCOUNT_INACTIVE, f"the account is {account.status}")
        return AccountHold(now + rules.reauth_hold, why)
    if seen.hold is not None and seen.hold.until > now:
        return seen.hold
    if account.is_paused(now) and account.paused_until is not None:
        return AccountHold(
            account.paused_until, ErrorInfo("rate_limited", "the account is rate limited")
        )
    return None


def _catch_up(post: Post, rules: Rules, now: datetime, seen: AccountSeen) -> Decision:
    """Spread an account's overdue backlog (after an outage) instead of bursting it.

    Posts already CATCH_UP_AFTER late go out one per spacing per account; the rest are deferred
    to their slots, in order, without spending an attempt. Posts due on time are never held
    back: several at the same minute is what the operator asked for.
    """
    spacing = rules.catch_up_spacing
    if not spacing or now - post.due_at < CATCH_UP_AFTER:
        return Decision(Send())
    slot = seen.catch_up_next
    if slot is None or slot <= now:
        return Decision(Send(), catch_up_next=now + spacing)
    return Decision(Reschedule(slot, None, spend_attempt=False), catch_up_next=slot + spacing)


def _after_look(
    looked: Looked,
    post: Post,
    account: Account | None,
    rules: Rules,
    now: datetime,
    seen: AccountSeen,
    jitter: float,
) -> Decision:
    if looked.found is not None:
        found = looked.found
        return Decision(MarkPublished(found.platform_post_id, by_readback=True, refs=found.refs))
    if looked.failed is not None:
        # `posts reconcile` looks again once the platform (or the account's token) answers.
        return Decision(MarkUnknown(ErrorInfo("ambiguous", f"could not look: {looked.failed}")))
    after = looked.after
    if isinstance(after, Retryable) and post.attempts + 1 < rules.max_attempts:
        # The platform answered the send with a transient error and the post is not there:
        # a retry is safe, because we looked.
        return _retry(after.reason, post, rules, now, jitter)
    if after is None and rules.reconcile_policy == "at_least_once":
        return _before_send(_not_sent(post), account, rules, now, seen)
    reason = after.reason if after is not None else "sent by a runner that died"
    return Decision(MarkUnknown(ErrorInfo("ambiguous", f"{reason}; not found on the platform")))


def _not_sent(post: Post) -> Post:
    return replace(post, send_started_at=None)


def _after_outcome(
    outcome: Outcome, post: Post, rules: Rules, now: datetime, jitter: float
) -> Decision:
    if isinstance(outcome, Published):
        return Decision(MarkPublished(outcome.platform_post_id, refs=outcome.refs))
    if isinstance(outcome, RateLimited):
        error = ErrorInfo("rate_limited", outcome.reason)
        defer = Reschedule(outcome.retry_at, error, spend_attempt=False)
        if not outcome.account_wide:
            return Decision(defer)
        return Decision(defer, PauseAccount(AccountHold(outcome.retry_at, error)))
    if isinstance(outcome, Deferred):
        return Decision(
            Reschedule(
                outcome.retry_at, ErrorInfo(outcome.code, outcome.reason), spend_attempt=False
            )
        )
    if isinstance(outcome, AuthExpired):
        hold = AccountHold(now + rules.reauth_hold, ErrorInfo(AUTH_EXPIRED, outcome.reason))
        return Decision(Reschedule(hold.until, hold.why, spend_attempt=False), NeedsReauth(hold))
    if isinstance(outcome, Retryable):
        if outcome.after_send:
            # Meta sometimes applies a write it answered with a transient error.
            return Decision(Look(after=outcome))
        return _retry(outcome.reason, post, rules, now, jitter)
    if isinstance(outcome, Permanent):
        return Decision(Fail(ErrorInfo(outcome.code, outcome.message)))
    if isinstance(outcome, Ambiguous):
        return Decision(Look(after=outcome))
    assert isinstance(outcome, Withdrawn)
    return Decision(Skip(outcome.reason))


def _retry(reason: str, post: Post, rules: Rules, now: datetime, jitter: float) -> Decision:
    attempts = post.attempts + 1
    if attempts >= rules.max_attempts:
        exhausted = ErrorInfo("retries_exhausted", f"{attempts} attempts; last: {reason}")
        return Decision(Fail(exhausted))
    delay = retry_delay(attempts, rules.retry_base_seconds, rules.retry_max_seconds, jitter)
    return Decision(Reschedule(now + delay, ErrorInfo("retryable", reason), spend_attempt=True))


Kind = Literal["published", "deferred", "failed", "unknown", "withdrawn"]


def kind_of(transition: Transition) -> Kind:
    """The run counter a settled transition adds to."""
    if isinstance(transition, MarkPublished):
        return "published"
    if isinstance(transition, Reschedule):
        return "deferred"
    if isinstance(transition, Fail):
        return "failed"
    if isinstance(transition, MarkUnknown):
        return "unknown"
    return "withdrawn"
