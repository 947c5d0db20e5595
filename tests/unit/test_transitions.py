"""The post state machine's policy as a table: no database, no process, no clock.

Each row: what happened (the event), the post's attempt (first or last of MAX_ATTEMPTS), its
account (active, paused by a rate limit, needing re-authentication, missing), how late it is
(on time, late enough to be a catch-up backlog, past MAX_LATENESS_SECONDS) and whether a send
may already have reached the platform; and the step `decide` must choose, written short:
`send`, `look`, `published`, `retry+45s` (attempt spent), `defer:<code>@<s>` (not spent),
`fail:<code>`, `unknown`, `skip`, with `+pause` / `+reauth` for an account effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from bson import ObjectId

from common.model import Account, Content, ErrorInfo, Post
from common.platforms.base import (
    Ambiguous,
    AuthExpired,
    Permanent,
    Published,
    RateLimited,
    Retryable,
    Withdrawn,
)
from common.transitions.policy import (
    AccountHold,
    AccountSeen,
    Decision,
    Due,
    Event,
    Fail,
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
    decide,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
RULES = Rules(
    max_attempts=3,
    max_lateness=timedelta(hours=1),
    catch_up_spacing=timedelta(seconds=60),
    reauth_hold=timedelta(seconds=900),
    retry_base_seconds=60,
    retry_max_seconds=3600,
    reconcile_policy="at_most_once",
)
AT_LEAST_ONCE = replace(RULES, reconcile_policy="at_least_once")
Attempt = Literal["first", "last"]
AccountState = Literal["active", "paused", "reauth", "missing"]
Lateness = Literal["on_time", "late", "expired"]
LATENESS = {
    "on_time": timedelta(seconds=10),
    "late": timedelta(minutes=10),  # past CATCH_UP_AFTER, within MAX_LATENESS_SECONDS
    "expired": timedelta(hours=2),
}
RATE_LIMIT_RESET = NOW + timedelta(minutes=5)


@dataclass(frozen=True)
class Row:
    event: Event
    expected: str
    attempt: Attempt = "first"
    account: AccountState = "active"
    lateness: Lateness = "on_time"
    may_have_sent: bool = False
    rules: Rules = RULES
    seen: AccountSeen = field(default_factory=AccountSeen)


def _post(row: Row) -> Post:
    scheduled = NOW - LATENESS[row.lateness]
    return Post(
        id=ObjectId(),
        account_id="acct",
        platform="facebook",
        content=Content(text="hello"),
        scheduled_at=scheduled,
        time_zone="UTC",
        due_at=scheduled,
        status="publishing",
        version=1,
        attempts=0 if row.attempt == "first" else RULES.max_attempts - 1,
        send_started_at=NOW - timedelta(minutes=6) if row.may_have_sent else None,
    )


def _account(state: AccountState) -> Account | None:
    if state == "missing":
        return None
    return Account(
        id="acct",
        platform="facebook",
        external_id="page",
        name="Page",
        token="ciphertext",
        status="needs_reauth" if state == "reauth" else "active",
        paused_until=RATE_LIMIT_RESET if state == "paused" else None,
    )


def _short(decision: Decision) -> str:
    step = decision.step
    if isinstance(step, Send):
        text = "send"
    elif isinstance(step, Look):
        text = "look"
    elif isinstance(step, MarkPublished):
        text = "published"
    elif isinstance(step, Reschedule):
        seconds = int((step.due_at - NOW).total_seconds())
        code = step.error.code if step.error else "slot"
        text = f"retry+{seconds}s" if step.spend_attempt else f"defer:{code}@{seconds}s"
    elif isinstance(step, Fail):
        text = f"fail:{step.error.code}"
    elif isinstance(step, MarkUnknown):
        text = "unknown"
    else:
        assert isinstance(step, Skip)
        text = "skip"
    effect = decision.account_effect
    if isinstance(effect, PauseAccount):
        text += "+pause"
    elif isinstance(effect, NeedsReauth):
        text += "+reauth"
    return text


RETRY = Retryable("HTTP 503")
AFTER_SEND = Retryable("code 2 on the feed POST", after_send=True)
TIMEOUT = Ambiguous("read timeout after send")
FOUND = Published("page_1")
SLOT_TAKEN = AccountSeen(catch_up_next=NOW + timedelta(seconds=60))
HELD_IN_RUN = AccountSeen(
    hold=AccountHold(NOW + timedelta(seconds=120), ErrorInfo("rate_limited", "throttled"))
)

TABLE: dict[str, Row] = {
    # --- claimed, nothing done yet --------------------------------------------------------
    "due on time": Row(Due(), "send"),
    "due, first of a backlog": Row(Due(), "send", lateness="late"),
    "due, backlog slot taken": Row(Due(), "defer:slot@60s", lateness="late", seen=SLOT_TAKEN),
    "due on time ignores backlog slots": Row(Due(), "send", seen=SLOT_TAKEN),
    "due, expired": Row(Due(), "fail:expired", lateness="expired"),
    "due, expired on the last attempt": Row(
        Due(), "fail:expired", attempt="last", lateness="expired"
    ),
    "due, account paused": Row(Due(), "defer:rate_limited@300s", account="paused"),
    "due, account paused, late": Row(
        Due(), "defer:rate_limited@300s", account="paused", lateness="late"
    ),
    "due, account needs reauth": Row(Due(), "defer:account_inactive@900s", account="reauth"),
    "due, account needs reauth, last attempt": Row(
        Due(), "defer:account_inactive@900s", account="reauth", attempt="last"
    ),
    "due, account missing": Row(Due(), "fail:account_not_found", account="missing"),
    "due, expired beats a paused account": Row(
        Due(), "fail:expired", account="paused", lateness="expired"
    ),
    "due, expired beats a re-auth hold": Row(
        Due(), "fail:expired", account="reauth", lateness="expired"
    ),
    "due, held earlier in this run": Row(Due(), "defer:rate_limited@120s", seen=HELD_IN_RUN),
    "due, may have been sent": Row(Due(), "look", may_have_sent=True),
    "due, may have been sent, account paused": Row(
        Due(), "look", account="paused", may_have_sent=True
    ),
    "due, may have been sent, account needs reauth, expired": Row(
        Due(), "look", account="reauth", lateness="expired", may_have_sent=True
    ),
    "due, may have been sent, account missing": Row(
        Due(), "look", account="missing", may_have_sent=True
    ),
    # --- after the adapter's outcome --------------------------------------------------------
    "published": Row(FOUND, "published"),
    "published on the last attempt": Row(FOUND, "published", attempt="last"),
    "published late": Row(FOUND, "published", lateness="late"),
    "rate limited, account-wide": Row(
        RateLimited(RATE_LIMIT_RESET), "defer:rate_limited@300s+pause"
    ),
    "rate limited on the last attempt spends nothing": Row(
        RateLimited(RATE_LIMIT_RESET), "defer:rate_limited@300s+pause", attempt="last"
    ),
    "rate limited, this post only": Row(
        RateLimited(RATE_LIMIT_RESET, account_wide=False), "defer:rate_limited@300s"
    ),
    "auth expired": Row(AuthExpired("token expired"), "defer:auth_expired@900s+reauth"),
    "auth expired on the last attempt": Row(
        AuthExpired("token expired"), "defer:auth_expired@900s+reauth", attempt="last"
    ),
    "retryable": Row(RETRY, "retry+45s"),
    "retryable, late": Row(RETRY, "retry+45s", lateness="late"),
    "retryable, account paused meanwhile": Row(RETRY, "retry+45s", account="paused"),
    "retryable on the last attempt": Row(RETRY, "fail:retries_exhausted", attempt="last"),
    "transient answer to the send itself": Row(AFTER_SEND, "look"),
    "transient answer to the send, last attempt": Row(AFTER_SEND, "look", attempt="last"),
    "permanent": Row(Permanent("100", "invalid parameter"), "fail:100"),
    "permanent on the last attempt": Row(Permanent("100", "bad"), "fail:100", attempt="last"),
    "timeout after send": Row(TIMEOUT, "look"),
    "timeout after send, last attempt": Row(TIMEOUT, "look", attempt="last"),
    "withdrawn before send": Row(Withdrawn("edited"), "skip"),
    "withdrawn on the last attempt": Row(Withdrawn("canceled"), "skip", attempt="last"),
    # --- after a look on the platform -------------------------------------------------------
    "dead runner's post found": Row(Looked(FOUND), "published", may_have_sent=True),
    "dead runner's post not found": Row(Looked(None), "unknown", may_have_sent=True),
    "dead runner's post, look failed": Row(
        Looked(None, failed="HTTP 500"), "unknown", may_have_sent=True
    ),
    "dead runner's post not found, at least once": Row(
        Looked(None), "send", may_have_sent=True, rules=AT_LEAST_ONCE
    ),
    "dead runner's post not found, at least once, paused": Row(
        Looked(None),
        "defer:rate_limited@300s",
        account="paused",
        may_have_sent=True,
        rules=AT_LEAST_ONCE,
    ),
    "dead runner's post not found, at least once, expired": Row(
        Looked(None), "fail:expired", lateness="expired", may_have_sent=True, rules=AT_LEAST_ONCE
    ),
    "dead runner's post, look failed, at least once": Row(
        Looked(None, failed="timeout"), "unknown", may_have_sent=True, rules=AT_LEAST_ONCE
    ),
    "transient send found": Row(Looked(FOUND, after=AFTER_SEND), "published", may_have_sent=True),
    "transient send not found: retry, we looked": Row(
        Looked(None, after=AFTER_SEND), "retry+45s", may_have_sent=True
    ),
    "transient send not found on the last attempt": Row(
        Looked(None, after=AFTER_SEND), "unknown", attempt="last", may_have_sent=True
    ),
    "transient send, look failed": Row(
        Looked(None, failed="HTTP 500", after=AFTER_SEND), "unknown", may_have_sent=True
    ),
    "timeout found": Row(Looked(FOUND, after=TIMEOUT), "published", may_have_sent=True),
    "timeout not found": Row(Looked(None, after=TIMEOUT), "unknown", may_have_sent=True),
    "timeout not found, at least once: never resent in the run": Row(
        Looked(None, after=TIMEOUT), "unknown", may_have_sent=True, rules=AT_LEAST_ONCE
    ),
}


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
def test_decide(row: Row) -> None:
    decision = decide(
        row.event, _post(row), _account(row.account), row.rules, NOW, seen=row.seen, jitter=0.5
    )
    assert _short(decision) == row.expected


def test_a_backlog_is_spread_one_slot_per_spacing() -> None:
    """Each catch-up send or deferral moves the account's next slot on by the spacing."""
    late = Row(Due(), "", lateness="late")
    seen = AccountSeen()
    due_times = []
    for _ in range(4):
        decision = decide(Due(), _post(late), _account("active"), RULES, NOW, seen=seen)
        step = decision.step
        due_times.append(NOW if isinstance(step, Send) else getattr(step, "due_at", None))
        assert decision.catch_up_next is not None
        seen = replace(seen, catch_up_next=decision.catch_up_next)
    assert due_times == [NOW + timedelta(seconds=60 * i) for i in range(4)]


def test_jitter_spreads_retries_between_half_the_base_and_the_ceiling() -> None:
    row = Row(RETRY, "")
    delays = {
        jitter: decide(RETRY, _post(row), _account("active"), RULES, NOW, jitter=jitter).step
        for jitter in (0.0, 1.0)
    }
    assert [getattr(step, "due_at", None) for step in delays.values()] == [
        NOW + timedelta(seconds=30),
        NOW + timedelta(seconds=60),
    ]
