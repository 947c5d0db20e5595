"""Scheduling one post: a request checked against its account's platform rules and the clock,
then stored once (a repeated request names the post it made).

Refusals are values, not strings or exceptions, so each transport words them its own way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo.database import Database

from common import jsonfmt, model, slots
from common.clock import ScheduledTime, TimeError, resolve
from common.db import Doc
from common.model import Account
from common.operations import likeness, media
from common.platforms.media_check import MediaUrlCheck
from common.posts import listing, store
from common.validation import CheckedFollowUps, Problem, check_follow_ups, check_post


@dataclass(frozen=True)
class PostRequest:
    """A post as a person or an application asks for it: raw, not yet validated.

    `scheduled_at` is ISO-8601 or "now". `idempotency_key` names the request so that sending it
    again makes nothing new; without one, the account, the time and the content name it.
    """

    account_id: str
    scheduled_at: str
    time_zone: str | None = None
    text: str = ""
    link: str | None = None
    media: Sequence[Mapping[str, str]] = ()
    content_warning: str | None = None
    visibility: str | None = None
    idempotency_key: str | None = None
    allow_late: bool = False
    # A fingerprint of the whole request that carried `idempotency_key` (the API's body hash):
    # the same key with another request is refused, not answered with the first one's post.
    request_hash: str | None = None
    # The same content for several accounts (the web composer's one post to many): one group.
    group_id: str | None = None
    # A draft is never published; a post awaiting approval goes out once approved.
    stage: model.Stage = "scheduled"
    # Who asks: the API key or admin identity (OPERATOR for the CLI on the database). A caller's
    # idempotency key is theirs alone, and covers one request body.
    owner: str = "operator"
    # The item's place in its request: one key names a whole batch, each item its own post.
    item: int = 0
    # A CSV row's `key` names the row across imports (a changed row edits its post), unlike an
    # API key, which names one request body (another body under it is refused).
    key_names_row: bool = False
    # Follow-ups, published after the post once it is out (common.posts.follow_ups): a first
    # comment (every network) and a thread's further parts (Threads, Bluesky, Mastodon).
    first_comment: str | None = None
    thread: Sequence[str] = ()


NOW = "now"
# "Add to queue": the account's next free posting slot (common.slots).
QUEUE = "queue"
# A time this close behind the server's clock is not "in the past": the caller's clock may be
# a little behind, and a person typing the current minute means now.
PAST_TOLERANCE = timedelta(minutes=1)
MAX_KEY_LENGTH = 200
# Posts queued at the same moment race for slots; each lost race moves on to the next free one.
SLOT_ATTEMPTS = 32


@dataclass(frozen=True)
class NoSuchAccount:
    account_id: str


@dataclass(frozen=True)
class Invalid:
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Planned:
    """A valid post for a known account, ready to be stored once its uploaded media are
    admitted (admit_media, checked with the account read here)."""

    new: store.NewPost
    account: Account


@dataclass(frozen=True)
class Scheduled:
    post_id: ObjectId
    when: ScheduledTime
    # Scheduled posts of the same account within a minute saying much the same (a warning).
    looks_like: tuple[likeness.LooksLike, ...] = ()


@dataclass(frozen=True)
class AlreadyScheduled:
    """The same request was made before: nothing new, this is the post it made."""

    post_id: ObjectId
    status: str


@dataclass(frozen=True)
class KeyReused:
    """The idempotency key was used before for a different request: nothing was done."""

    key: str


def post_key(request: PostRequest, content: model.Content, instant: datetime) -> str:
    """The stored idempotency key (a hash, so a long key never overflows with the item's place).

    A caller's key is scoped to the caller, not to an account: the same key with another account
    is the same key. Items of one request share it, each at its place, so a single create under
    a key a batch used meets that batch's first item. Without a key, the account, the instant and
    the content name the post.
    """
    named: list[Any]
    if request.idempotency_key is None:
        named = ["post", request.account_id, instant, content.to_doc()]
    elif request.key_names_row:
        named = ["row", request.owner, request.idempotency_key]
    else:
        named = ["key", request.owner, request.idempotency_key, request.item]
    return hashlib.sha256(jsonfmt.dumps(named).encode()).hexdigest()


def plan_post(
    request: PostRequest, account: Account | None, now: datetime, max_lateness: timedelta
) -> Planned | NoSuchAccount | Invalid:
    """Validate a request against its account's platform rules and the clock.

    `max_lateness` (MAX_LATENESS_SECONDS): even an allowed late post older than this would fail
    as expired at the next run, so it is refused here instead.
    """
    if account is None:
        return NoSuchAccount(request.account_id)
    is_now = request.scheduled_at.strip().lower() == NOW
    checked = check_post(
        account.platform,
        text=request.text,
        link=request.link,
        media=request.media,
        scheduled_at=now.isoformat() if is_now else request.scheduled_at,
        time_zone=request.time_zone,
        content_warning=request.content_warning,
        visibility=request.visibility,
        instance=account.instance_limits,
    )
    follow_ups = check_follow_ups(
        account.platform, first_comment=request.first_comment, thread=request.thread
    )
    problems = [
        *checked.problems,
        *follow_ups.problems,
        *_key_problems(request.idempotency_key),
    ]
    when = checked.when
    if when is not None and not is_now:
        problems.extend(_past_problems(when, now, request.allow_late, max_lateness))
    if problems or when is None:
        return Invalid(tuple(problems))
    key = post_key(request, checked.content, when.instant)
    new = store.NewPost(
        account.id,
        account.platform,
        checked.content,
        when,
        group_id=request.group_id,
        idempotency_key=key,
        request_hash=request.request_hash,
        stage=request.stage,
        follow_ups=_follow_ups(follow_ups),
    )
    return Planned(new, account)


def _follow_ups(checked: CheckedFollowUps) -> tuple[store.NewFollowUp, ...]:
    thread = tuple(store.NewFollowUp("thread", part) for part in checked.thread)
    if checked.first_comment is None:
        return thread
    return (*thread, store.NewFollowUp("comment", checked.first_comment))


def _past_problems(
    when: ScheduledTime, now: datetime, allow_late: bool, max_lateness: timedelta
) -> list[Problem]:
    if when.instant >= now - PAST_TOLERANCE:
        return []
    if allow_late and now - when.instant > max_lateness:
        late = int((now - when.instant).total_seconds())
        limit = int(max_lateness.total_seconds())
        message = (
            f"{when.local_time} is {late} s in the past, more than the {limit} s a late post may "
            'be (MAX_LATENESS_SECONDS): it would fail as expired; give a later time or "now"'
        )
        return [Problem("scheduledAt", message)]
    if allow_late:
        return []
    message = (
        f'{when.local_time} is in the past; give a later time, "now", '
        "or allow late posting explicitly (allowLate / --allow-late)"
    )
    return [Problem("scheduledAt", message)]


def _key_problems(key: str | None) -> list[Problem]:
    if key is None or 0 < len(key) <= MAX_KEY_LENGTH:
        return []
    return [Problem("idempotencyKey", f"idempotency keys have 1 to {MAX_KEY_LENGTH} characters")]


def is_queued(request: PostRequest) -> bool:
    return request.scheduled_at.strip().lower() == QUEUE


def instant_asked(request: PostRequest, now: datetime) -> datetime | None:
    """The instant the request names, read ahead of its validation (None: it names none;
    plan_post then says why)."""
    if request.scheduled_at.strip().lower() == NOW:
        return now
    try:
        return resolve(request.scheduled_at, request.time_zone).instant
    except TimeError:
        return None


def in_next_slots(
    db: Database[Doc], requests: Sequence[PostRequest], now: datetime
) -> list[PostRequest | Invalid]:
    """Each queued request at its account's next free slot, in order, two never in one slot
    (a batch, a CSV file); the others as they are. One read per account queued to."""
    horizon = now + timedelta(days=slots.HORIZON_DAYS + 1)
    free: dict[str, tuple[slots.Schedule, set[datetime]] | None] = {}
    placed: list[PostRequest | Invalid] = []
    for request in requests:
        if not is_queued(request):
            placed.append(request)
            continue
        if request.account_id not in free:
            free[request.account_id] = listing.slots_and_taken(db, request.account_id, now, horizon)
        placed.append(_take_slot(request, free[request.account_id], now))
    return placed


def _take_slot(
    request: PostRequest, found: tuple[slots.Schedule, set[datetime]] | None, now: datetime
) -> PostRequest | Invalid:
    if found is None:
        return Invalid((Problem("scheduledAt", "the account has no posting slots"),))
    schedule, taken = found
    free = slots.next_free(schedule, now + PAST_TOLERANCE, taken)
    if free is None:
        return Invalid((Problem("scheduledAt", "every posting slot of the next year is taken"),))
    taken.add(free)
    local = free.astimezone(ZoneInfo(schedule.time_zone)).replace(tzinfo=None)
    return replace(request, scheduled_at=local.isoformat(), time_zone=schedule.time_zone)


def url_problems(
    check: MediaUrlCheck | None,
    planned: Sequence[store.NewPost],
    known: frozenset[str] = frozenset(),
) -> list[list[Problem]]:
    """For each planned post, the problems of its media given as URLs (`known`: URLs checked
    before, when the post was made, and not again)."""
    if check is None:
        return [[] for _ in planned]
    return check.problems([(p.platform, p.content) for p in planned], known)


def admit_media(db: Database[Doc], planned: Planned, now: datetime) -> store.NewPost | Invalid:
    """The post with its uploaded media checked for its account and resolved to their copies."""
    content = media.admit(db, planned.account, planned.new.content, now)
    if isinstance(content, list):
        return Invalid(tuple(content))
    return replace(planned.new, content=content)


def repeat(request: PostRequest, existing: store.Existing) -> AlreadyScheduled | KeyReused:
    if existing.request_hash != request.request_hash and request.idempotency_key is not None:
        return KeyReused(request.idempotency_key)
    return AlreadyScheduled(existing.post_id, existing.status)
