"""Use cases: what an operator or an application asks of the scheduler.

The CLI (and the API) parse a request, call one function here and print or send the typed
result back; none of them touches posts or accounts directly. Refusals are values, not strings
or exceptions, so each transport words them its own way.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import IO, Any, Literal

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from common import accounts, bulk_import, jsonfmt, model, posts
from common.accounts import Account
from common.clock import ScheduledTime
from common.config import Settings
from common.db import Doc
from common.platforms.base import Registry, TokenHealth
from common.platforms.bluesky import session_check as bluesky_check
from common.platforms.bluesky.sessions import Session, create_session
from common.platforms.bluesky.xrpc import XrpcClient
from common.platforms.mastodon import token_check as mastodon_check
from common.platforms.mastodon.client import MastodonClient
from common.platforms.meta.graph import GraphClient
from common.platforms.meta.onboarding import OnboardingFailed, pages_for
from common.platforms.meta.token_check import inspect
from common.platforms.registry import bluesky_sessions, threads_client
from common.platforms.threads import token_check as threads_check
from common.publishing import look
from common.tokens import TokenCipher
from common.validation import Problem, check_post

log = logging.getLogger(__name__)
IMPORT_CHUNK = 500

# --- scheduling -----------------------------------------------------------------------------


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


NOW = "now"
# A time this close behind the server's clock is not "in the past": the caller's clock may be
# a little behind, and a person typing the current minute means now.
PAST_TOLERANCE = timedelta(minutes=1)
MAX_KEY_LENGTH = 200
DUPLICATE_KEY = 11000  # MongoDB's error code for a unique index refusing a write


@dataclass(frozen=True)
class NoSuchAccount:
    account_id: str


@dataclass(frozen=True)
class Invalid:
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Planned:
    """A valid post for a known account, ready to be stored."""

    new: posts.NewPost


@dataclass(frozen=True)
class Scheduled:
    post_id: ObjectId
    when: ScheduledTime


@dataclass(frozen=True)
class AlreadyScheduled:
    """The same request was made before: nothing new, this is the post it made."""

    post_id: ObjectId
    status: str


@dataclass(frozen=True)
class KeyReused:
    """The idempotency key was used before for a different request: nothing was done."""

    key: str


def post_key(account_id: str, given: str | None, content: model.Content, instant: datetime) -> str:
    """The stored idempotency key: the caller's own, or one derived from what the post is.

    Scoped to the account, so two callers' keys never collide across accounts.
    """
    named: list[Any]
    if given is not None:
        named = ["key", account_id, given]
    else:
        named = ["post", account_id, jsonfmt.to_rfc3339(instant), content.to_doc()]
    return hashlib.sha256(jsonfmt.dumps(named).encode()).hexdigest()


def plan_post(
    request: PostRequest, account: Account | None, now: datetime
) -> Planned | NoSuchAccount | Invalid:
    """Validate a request against its account's platform rules and the clock."""
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
    )
    problems = list(checked.problems) + _key_problems(request.idempotency_key)
    when = checked.when
    if when is not None and not is_now and not request.allow_late:
        problems.extend(_past_problems(when, now))
    if problems or when is None:
        return Invalid(tuple(problems))
    key = post_key(account.id, request.idempotency_key, checked.content, when.instant)
    new = posts.NewPost(
        account.id,
        account.platform,
        checked.content,
        when,
        idempotency_key=key,
        request_hash=request.request_hash,
    )
    return Planned(new)


def _past_problems(when: ScheduledTime, now: datetime) -> list[Problem]:
    if when.instant >= now - PAST_TOLERANCE:
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


def schedule_post(
    db: Database[Doc], request: PostRequest, now: datetime
) -> Scheduled | AlreadyScheduled | KeyReused | NoSuchAccount | Invalid:
    planned = plan_post(request, accounts.get(db, request.account_id), now)
    if not isinstance(planned, Planned):
        return planned
    inserted = posts.insert_once(db, planned.new, now)
    if isinstance(inserted, posts.Existing):
        return _repeat(request, inserted)
    return Scheduled(inserted, planned.new.when)


def _repeat(request: PostRequest, existing: posts.Existing) -> AlreadyScheduled | KeyReused:
    if existing.request_hash != request.request_hash and request.idempotency_key is not None:
        return KeyReused(request.idempotency_key)
    return AlreadyScheduled(existing.post_id, existing.status)


@dataclass(frozen=True)
class ItemProblem:
    """What is wrong with one item of a batch, by its index (0-based)."""

    index: int
    field: str
    message: str


@dataclass(frozen=True)
class BatchRefused:
    """Nothing was scheduled; every problem found, by item."""

    problems: tuple[ItemProblem, ...]


@dataclass(frozen=True)
class BatchScheduled:
    """One result per item, in order: new posts and repeats of earlier requests."""

    results: tuple[Scheduled | AlreadyScheduled, ...]

    @property
    def created(self) -> int:
        return sum(isinstance(r, Scheduled) for r in self.results)


def schedule_batch(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> BatchScheduled | BatchRefused | KeyReused:
    """Schedule every item or none (an API batch, a CSV file); repeats make nothing new."""
    known = accounts.load_many(db, (r.account_id for r in requests))
    planned: list[posts.NewPost] = []
    problems: list[ItemProblem] = []
    for index, request in enumerate(requests):
        result = plan_post(request, known.get(request.account_id), now)
        if isinstance(result, Planned):
            planned.append(result.new)
        elif isinstance(result, NoSuchAccount):
            problems.append(ItemProblem(index, "accountId", f"no account {result.account_id!r}"))
        else:
            problems.extend(ItemProblem(index, p.field, p.message) for p in result.problems)
    if problems:
        return BatchRefused(tuple(problems))
    try:
        return _store_new(db, requests, planned, now, progress)
    except BulkWriteError as exc:
        if not _duplicate_key(exc):
            raise
        # An identical batch raced this one and won: what it made is now there to be named.
        return _store_new(db, requests, planned, now, progress)


def _duplicate_key(exc: BulkWriteError) -> bool:
    return any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", ()))


def _store_new(
    db: Database[Doc],
    requests: Sequence[PostRequest],
    planned: Sequence[posts.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None,
) -> BatchScheduled | KeyReused:
    """Insert the posts no earlier request made; an item repeated within the batch is one post."""
    existing = posts.existing_keys(db, [p.idempotency_key or "" for p in planned])
    for request, new in zip(requests, planned, strict=True):
        earlier = existing.get(new.idempotency_key or "")
        if earlier is not None and isinstance(_repeat(request, earlier), KeyReused):
            return KeyReused(request.idempotency_key or "")
    fresh: dict[str, posts.NewPost] = {}
    for new in planned:
        key = new.idempotency_key or ""
        if key not in existing:
            fresh.setdefault(key, new)
    ids = dict(zip(fresh, insert_all(db, list(fresh.values()), now, progress), strict=True))
    results: list[Scheduled | AlreadyScheduled] = []
    for new in planned:
        key = new.idempotency_key or ""
        if key in existing:
            results.append(AlreadyScheduled(existing[key].post_id, existing[key].status))
        elif key in ids:
            results.append(Scheduled(ids.pop(key), new.when))
        else:  # the second of two equal items in this batch
            results.append(AlreadyScheduled(_made_for(results, planned, key), "scheduled"))
    return BatchScheduled(tuple(results))


def _made_for(
    results: Sequence[Scheduled | AlreadyScheduled], planned: Sequence[posts.NewPost], key: str
) -> ObjectId:
    first = next(i for i, p in enumerate(planned) if p.idempotency_key == key)
    return results[first].post_id


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    message: str


@dataclass(frozen=True)
class ImportRefused:
    """Nothing was imported; every problem found, by line."""

    problems: tuple[RowProblem, ...]


@dataclass(frozen=True)
class AlreadyImported:
    """A row scheduled before (by an earlier import of the same file, for instance)."""

    line: int
    post_id: ObjectId


@dataclass(frozen=True)
class Imported:
    count: int
    already: tuple[AlreadyImported, ...] = ()


def import_csv(
    db: Database[Doc],
    handle: IO[str],
    now: datetime,
    *,
    default_time_zone: str | None = None,
    allow_late: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Imported | ImportRefused:
    """Schedule every row of a CSV file (common.bulk_import), or none if any row is wrong.

    Importing the same file again schedules nothing and names the posts made the first time.
    Raises UnicodeDecodeError and csv.Error for a file that is not UTF-8 CSV text.
    """
    rows, header_problems = bulk_import.read(handle)
    if header_problems:
        return ImportRefused(tuple(RowProblem(1, p.column, p.message) for p in header_problems))
    if not rows:
        return ImportRefused((RowProblem(1, "file", "no rows to import"),))
    requests = [row_request(row, default_time_zone, allow_late) for row in rows]
    result = schedule_batch(db, requests, now, progress)
    assert not isinstance(result, KeyReused)  # rows carry no request hash
    if isinstance(result, BatchRefused):
        return ImportRefused(
            tuple(
                RowProblem(rows[p.index].line, _COLUMN.get(p.field, p.field), p.message)
                for p in result.problems
            )
        )
    already = tuple(
        AlreadyImported(row.line, r.post_id)
        for row, r in zip(rows, result.results, strict=True)
        if isinstance(r, AlreadyScheduled)
    )
    return Imported(result.created, already)


# Problems name the CSV column, not the request field.
_COLUMN = {"accountId": "account", "idempotencyKey": "key"}


def row_request(row: bulk_import.Row, default_tz: str | None, allow_late: bool) -> PostRequest:
    cells = row.cells
    media_type = cells.get("media_type") or "image"
    return PostRequest(
        account_id=cells.get("account", ""),
        scheduled_at=cells.get("at", ""),
        time_zone=cells.get("tz") or default_tz,
        text=cells.get("text", ""),
        link=cells.get("link") or None,
        media=[{"url": url, "type": media_type} for url in cells.get("media", "").split()],
        idempotency_key=cells.get("key") or None,
        allow_late=allow_late,
    )


def insert_all(
    db: Database[Doc],
    new_posts: Sequence[posts.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> list[ObjectId]:
    """Insert every post, invisible to runs until all are in; on failure, none stay."""
    import_id = uuid.uuid4().hex
    total = len(new_posts)
    ids: list[ObjectId] = []
    try:
        for start in range(0, total, IMPORT_CHUNK):
            ids += posts.stage_many(db, new_posts[start : start + IMPORT_CHUNK], import_id, now)
            if progress is not None:
                progress(min(start + IMPORT_CHUNK, total), total)
    except Exception:
        posts.discard_import(db, import_id)
        raise
    if ids:
        posts.activate_import(db, import_id, now)
    return ids


# --- operator actions on one post -----------------------------------------------------------


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
    planned = plan_post(_edited_request(post, changes), accounts.get(db, post.account_id), now)
    if isinstance(planned, NoSuchAccount):
        return Invalid((Problem("accountId", f"no account {post.account_id!r}"),))
    if isinstance(planned, Invalid):
        return planned
    when = planned.new.when if changes.scheduled_at is not None else None
    if posts.edit_content(db, post_id, planned.new.content, now, when=when, version=post.version):
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


# --- accounts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountDetails:
    """What a new account needs besides its token (an existing one needs none of it)."""

    platform: str | None = None
    external_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Added:
    account_id: str


@dataclass(frozen=True)
class Reauthenticated:
    account_id: str
    posts_released: int


@dataclass(frozen=True)
class DetailsMissing:
    """A new account needs its platform and its id there."""

    account_id: str


def store_token(
    db: Database[Doc],
    cipher: TokenCipher,
    account_id: str,
    token: str,
    details: AccountDetails,
    now: datetime,
) -> Added | Reauthenticated | DetailsMissing:
    """Add an account, or re-authenticate an existing one: the token is stored encrypted.

    Re-authentication makes the account active again and releases exactly the posts held for
    it (posts.release_held). Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable.
    """
    ciphertext = cipher.encrypt(token)
    if accounts.replace_token(db, account_id, ciphertext, None, now):
        return Reauthenticated(account_id, posts.release_held(db, account_id, now))
    if not details.platform or not details.external_id:
        return DetailsMissing(account_id)
    accounts.create(
        db,
        account_id=account_id,
        platform=details.platform,
        external_id=details.external_id,
        name=details.name or account_id,
        token_ciphertext=ciphertext,
        token_expires_at=None,
        now=now,
    )
    return Added(account_id)


@dataclass(frozen=True)
class ConnectedAccount:
    account_id: str
    platform: str
    external_id: str
    name: str
    added: bool  # False: it existed and got the new token (its held posts were released)


@dataclass(frozen=True)
class Connected:
    accounts: tuple[ConnectedAccount, ...]


def connect_meta(
    db: Database[Doc],
    settings: Settings,
    user_token: str,
    now: datetime,
    pages: Sequence[str] | None = None,
) -> Connected | OnboardingFailed:
    """Store the Page tokens (encrypted) of the Pages a Meta login grants, and of the Instagram
    professional accounts linked to them: `fb-<page id>` and `ig-<instagram id>`.

    `pages` chooses some of the Pages (by id); None takes all. Raises TokenKeyError when
    TOKEN_ENCRYPTION_KEY is unusable.
    """
    cipher = TokenCipher.from_settings(settings)
    client = GraphClient(settings)
    try:
        grants = pages_for(client, settings, user_token)
    finally:
        client.close()
    if isinstance(grants, OnboardingFailed):
        return grants
    chosen = [g for g in grants if pages is None or g.page_id in pages]
    missing = sorted(set(pages or ()) - {g.page_id for g in grants})
    if missing:
        reason = f"this login does not manage Page(s) {', '.join(missing)}"
        return OnboardingFailed("refused", reason)
    stored: list[ConnectedAccount] = []
    for grant in chosen:
        targets = [("fb", "facebook", grant.page_id, grant.name)]
        if grant.instagram_id is not None:
            targets.append(("ig", "instagram", grant.instagram_id, f"{grant.name} (Instagram)"))
        for prefix, platform, external_id, name in targets:
            account_id = f"{prefix}-{external_id}"
            details = AccountDetails(platform, external_id, name)
            result = store_token(db, cipher, account_id, grant.page_token, details, now)
            added = isinstance(result, Added)
            stored.append(ConnectedAccount(account_id, platform, external_id, name, added))
    return Connected(tuple(stored))


# An app password is four groups of four lowercase letters or digits; anything else is most
# likely the account's main password, which this project never stores.
_APP_PASSWORD = re.compile(r"^[a-z0-9]{4}(-[a-z0-9]{4}){3}$")


@dataclass(frozen=True)
class ConnectRefused:
    """Nothing was stored; `reason` says what to fix."""

    reason: str


@dataclass(frozen=True)
class BlueskyLogin:
    handle: str
    app_password: str
    service_url: str  # the account's PDS, e.g. https://bsky.social


def connect_bluesky(
    db: Database[Doc], settings: Settings, account_id: str, login: BlueskyLogin, now: datetime
) -> Added | Reauthenticated | ConnectRefused:
    """Log in once with the handle and app password: the account is stored only when Bluesky
    accepts them, with the app password and the session encrypted (the session spares every
    later run a login). An existing account gets the new credential and its held posts back.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable."""
    if not _APP_PASSWORD.match(login.app_password):
        return ConnectRefused(
            "that is not an app password (xxxx-xxxx-xxxx-xxxx): create one in Bluesky's "
            "Settings > Privacy and security > App passwords; never use the main password"
        )
    if not login.service_url.startswith(("https://", "http://")):
        return ConnectRefused("the PDS URL must be an http(s) URL, e.g. https://bsky.social")
    cipher = TokenCipher.from_settings(settings)
    client = XrpcClient(settings)
    try:
        session = create_session(client, login.service_url, login.handle, login.app_password)
    finally:
        client.close()
    if not isinstance(session, Session):
        return ConnectRefused(f"Bluesky refused the login: {_reason(session)}")
    password = cipher.encrypt(login.app_password)
    kept = cipher.encrypt(session.to_json())
    existing = accounts.get(db, account_id)
    if existing is not None:
        if existing.platform != "bluesky" or existing.external_id != session.did:
            return ConnectRefused(f"account {account_id} exists for another identity")
        accounts.replace_token(db, account_id, password, None, now, session_ciphertext=kept)
        return Reauthenticated(account_id, posts.release_held(db, account_id, now))
    accounts.create(
        db,
        account_id=account_id,
        platform="bluesky",
        external_id=session.did,
        name=session.handle or login.handle,
        token_ciphertext=password,
        token_expires_at=None,
        now=now,
        service_url=login.service_url.rstrip("/"),
        session_ciphertext=kept,
    )
    return Added(account_id)


@dataclass(frozen=True)
class MastodonLogin:
    instance_url: str  # e.g. https://mastodon.social
    access_token: str  # scopes write:statuses and write:media (read:statuses for the look)


def connect_mastodon(
    db: Database[Doc], settings: Settings, account_id: str, login: MastodonLogin, now: datetime
) -> Added | Reauthenticated | ConnectRefused:
    """The token is stored (encrypted) only when the instance accepts it (verify_credentials),
    with the instance URL and the account's id there. An existing account gets the new token
    and its held posts back.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable."""
    instance = login.instance_url.rstrip("/")
    if not instance.startswith(("https://", "http://")):
        return ConnectRefused("the instance must be an http(s) URL, e.g. https://mastodon.social")
    cipher = TokenCipher.from_settings(settings)
    client = MastodonClient(settings)
    try:
        found = mastodon_check.who_am_i(client, instance, login.access_token)
    finally:
        client.close()
    if not isinstance(found, mastodon_check.Identity):
        return ConnectRefused(f"the instance refused the token: {_reason(found)}")
    token = cipher.encrypt(login.access_token)
    existing = accounts.get(db, account_id)
    if existing is not None:
        if existing.platform != "mastodon" or existing.external_id != found.account_id:
            return ConnectRefused(f"account {account_id} exists for another identity")
        accounts.replace_token(db, account_id, token, None, now)
        return Reauthenticated(account_id, posts.release_held(db, account_id, now))
    accounts.create(
        db,
        account_id=account_id,
        platform="mastodon",
        external_id=found.account_id,
        name=found.acct,
        token_ciphertext=token,
        token_expires_at=None,
        now=now,
        service_url=instance,
    )
    return Added(account_id)


@dataclass(frozen=True)
class ThreadsLogin:
    access_token: str  # a long-lived Threads token (threads_basic, threads_content_publish)


def connect_threads(
    db: Database[Doc], settings: Settings, account_id: str, login: ThreadsLogin, now: datetime
) -> Added | Reauthenticated | ConnectRefused:
    """The token is stored (encrypted) only when Threads accepts it (`/me` gives the profile
    id). Its expiry is taken as 60 days from now (a long-lived token just made from the OAuth
    flow); `accounts check` refreshes it before then.

    Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is unusable."""
    cipher = TokenCipher.from_settings(settings)
    client = threads_client(settings)
    try:
        found = threads_check.who_am_i(client, login.access_token)
    finally:
        client.close()
    if not isinstance(found, threads_check.Identity):
        return ConnectRefused(f"Threads refused the token: {_reason(found)}")
    token, expires = cipher.encrypt(login.access_token), now + threads_check.LONG_LIVED
    existing = accounts.get(db, account_id)
    if existing is not None:
        if existing.platform != "threads" or existing.external_id != found.user_id:
            return ConnectRefused(f"account {account_id} exists for another identity")
        accounts.replace_token(db, account_id, token, expires, now)
        return Reauthenticated(account_id, posts.release_held(db, account_id, now))
    accounts.create(
        db,
        account_id=account_id,
        platform="threads",
        external_id=found.user_id,
        name=found.username,
        token_ciphertext=token,
        token_expires_at=expires,
        now=now,
    )
    return Added(account_id)


def _reason(outcome: object) -> str:
    for name in ("reason", "message"):
        if isinstance(getattr(outcome, name, None), str):
            return str(getattr(outcome, name))
    return type(outcome).__name__


def check_tokens(
    db: Database[Doc], settings: Settings, now: datetime, only: Sequence[str] | None = None
) -> list[TokenHealth]:
    """Inspect every account's credential (or `only` these accounts') with its own network; an
    invalid one sets the account to needs_reauth."""
    chosen = accounts.list_all(db) if only is None else list(accounts.load_many(db, only).values())
    graph, xrpc, mastodon = GraphClient(settings), XrpcClient(settings), MastodonClient(settings)
    threads, threads_refresh = threads_client(settings), threads_client(settings, versioned=False)
    cipher = TokenCipher.from_settings(settings)
    sessions = bluesky_sessions(settings, cipher)

    def one(account: Account) -> TokenHealth:
        if account.platform == "threads":
            health, renewed = threads_check.inspect(threads, threads_refresh, cipher, account, now)
            if renewed is not None:
                accounts.store_refreshed_token(
                    db, account.id, cipher.encrypt(renewed.token), renewed.expires_at, now
                )
            return health
        if account.platform == "bluesky":
            return bluesky_check.inspect(xrpc, sessions, cipher, account)
        if account.platform == "mastodon":
            return mastodon_check.inspect(mastodon, cipher, account)
        return inspect(graph, settings, cipher, account, now)

    try:
        results = [one(a) for a in chosen]
    finally:
        for client in (graph, xrpc, mastodon, threads, threads_refresh):
            client.close()
    for health in results:
        if health.problem is not None and health.problem.kind == "invalid":
            accounts.mark_needs_reauth(db, health.account_id, now)
        if health.valid and health.expires_at is not None:
            accounts.set_token_expiry(db, health.account_id, health.expires_at, now)
    return results


# --- looking again --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconcileReport:
    checked: int = 0
    published: int = 0
    rescheduled: int = 0
    still_unknown: int = 0
    errors: int = 0


def reconcile_unknown(
    db: Database[Doc], settings: Settings, registry: Registry, now: datetime, limit: int = 100
) -> ReconcileReport:
    """Look for up to `limit` unknown posts (oldest first) on their platform.

    Found: published. Not found: still unknown under at_most_once, scheduled again under
    at_least_once. Kept out of the tick so an empty tick stays at three database commands;
    a run looks for its own lease-expired posts with the same `look`.
    """
    published = rescheduled = still = errors = 0
    candidates = posts.list_unknown(db, limit)
    known = accounts.load_many(db, (p.account_id for p in candidates))
    for post in candidates:
        looked = look(registry.get(post.platform), post, known.get(post.account_id))
        if looked.failed is not None:
            errors += 1
        elif looked.found is not None:
            published += posts.mark_found_published(db, post, looked.found.platform_post_id, now)
        elif settings.reconcile_policy == "at_least_once":
            rescheduled += posts.retry(db, post.id, now)
        else:
            still += 1
    return ReconcileReport(len(candidates), published, rescheduled, still, errors)
