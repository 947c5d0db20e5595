"""Use cases: what an operator or an application asks of the scheduler.

The CLI (and the API) parse a request, call one function here and print or send the typed
result back; none of them touches posts or accounts directly. Refusals are values, not strings
or exceptions, so each transport words them its own way.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import IO, Literal

from bson import ObjectId
from pymongo.database import Database

from common import accounts, bulk_import, model, posts
from common.accounts import Account
from common.clock import ScheduledTime
from common.config import Settings
from common.db import Doc
from common.platforms.base import Registry
from common.platforms.bluesky import session_check as bluesky_check
from common.platforms.bluesky.sessions import Session, create_session
from common.platforms.bluesky.xrpc import XrpcClient
from common.platforms.credentials import TokenHealth
from common.platforms.mastodon import token_check as mastodon_check
from common.platforms.mastodon.client import MastodonClient
from common.platforms.meta.graph import GraphClient
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
    """A post as a person or an application asks for it: raw, not yet validated."""

    account_id: str
    scheduled_at: str
    time_zone: str | None = None
    text: str = ""
    link: str | None = None
    media: Sequence[Mapping[str, str]] = ()
    content_warning: str | None = None
    visibility: str | None = None


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


def plan_post(request: PostRequest, account: Account | None) -> Planned | NoSuchAccount | Invalid:
    """Validate a request against its account's platform rules."""
    if account is None:
        return NoSuchAccount(request.account_id)
    checked = check_post(
        account.platform,
        text=request.text,
        link=request.link,
        media=request.media,
        scheduled_at=request.scheduled_at,
        time_zone=request.time_zone,
        content_warning=request.content_warning,
        visibility=request.visibility,
    )
    if not checked.ok or checked.when is None:
        return Invalid(tuple(checked.problems))
    return Planned(posts.NewPost(account.id, account.platform, checked.content, checked.when))


def schedule_post(
    db: Database[Doc], request: PostRequest, now: datetime
) -> Scheduled | NoSuchAccount | Invalid:
    planned = plan_post(request, accounts.get(db, request.account_id))
    if not isinstance(planned, Planned):
        return planned
    new = planned.new
    post_id = posts.create(
        db,
        account_id=new.account_id,
        platform=new.platform,
        content=new.content,
        when=new.when,
        now=now,
    )
    return Scheduled(post_id, new.when)


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
class Imported:
    count: int


def import_csv(
    db: Database[Doc],
    handle: IO[str],
    now: datetime,
    *,
    default_time_zone: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Imported | ImportRefused:
    """Schedule every row of a CSV file (common.bulk_import), or none if any row is wrong.

    Raises UnicodeDecodeError and csv.Error for a file that is not UTF-8 CSV text.
    """
    rows, header_problems = bulk_import.read(handle)
    if header_problems:
        return ImportRefused(tuple(RowProblem(1, p.column, p.message) for p in header_problems))
    planned, problems = _plan_rows(db, rows, default_time_zone)
    if not planned and not problems:
        problems.append(RowProblem(1, "file", "no rows to import"))
    if problems:
        return ImportRefused(tuple(problems))
    return Imported(insert_all(db, planned, now, progress))


def _plan_rows(
    db: Database[Doc], rows: Sequence[bulk_import.Row], default_tz: str | None
) -> tuple[list[posts.NewPost], list[RowProblem]]:
    known = accounts.load_many(db, (row.cells.get("account", "") for row in rows))
    planned: list[posts.NewPost] = []
    problems: list[RowProblem] = []
    for row in rows:
        cells = row.cells
        media_type = cells.get("media_type") or "image"
        request = PostRequest(
            account_id=cells.get("account", ""),
            scheduled_at=cells.get("at", ""),
            time_zone=cells.get("tz") or default_tz,
            text=cells.get("text", ""),
            link=cells.get("link") or None,
            media=[{"url": url, "type": media_type} for url in cells.get("media", "").split()],
        )
        result = plan_post(request, known.get(request.account_id))
        if isinstance(result, Planned):
            planned.append(result.new)
        elif isinstance(result, NoSuchAccount):
            problems.append(RowProblem(row.line, "account", f"no account {result.account_id!r}"))
        else:
            problems.extend(RowProblem(row.line, p.field, p.message) for p in result.problems)
    return planned, problems


def insert_all(
    db: Database[Doc],
    new_posts: Sequence[posts.NewPost],
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Insert every post, invisible to runs until all are in; on failure, none stay."""
    import_id = uuid.uuid4().hex
    total = len(new_posts)
    try:
        for start in range(0, total, IMPORT_CHUNK):
            posts.stage_many(db, new_posts[start : start + IMPORT_CHUNK], import_id, now)
            if progress is not None:
                progress(min(start + IMPORT_CHUNK, total), total)
    except Exception:
        posts.discard_import(db, import_id)
        raise
    return posts.activate_import(db, import_id, now)


# --- operator actions on one post -----------------------------------------------------------


class Refusal(Enum):
    """Why an operator action on a post was refused."""

    NOT_FOUND = "no such post"
    SEND_BEGUN = "its send has begun"
    FINISHED = "it is already published or canceled"
    NOT_RETRYABLE = "only failed or unknown posts can be retried"
    NOT_EDITABLE = "only scheduled posts can be edited"


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


def edit_post(
    db: Database[Doc], post_id: ObjectId, content: model.Content, now: datetime
) -> Done | Refused:
    if posts.edit_content(db, post_id, content, now):
        return Done(post_id)
    return _refusal(db, post_id, "edit")


def _refusal(db: Database[Doc], post_id: ObjectId, action: Action) -> Refused:
    """Why the conditional write matched nothing, read after the fact (refusals are rare)."""
    post = posts.get(db, post_id)
    if post is None:
        return Refused(Refusal.NOT_FOUND, None)
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


def check_tokens(db: Database[Doc], settings: Settings, now: datetime) -> list[TokenHealth]:
    """Inspect every account's credential with its own network; an invalid one sets the
    account to needs_reauth."""
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
        results = [one(a) for a in accounts.list_all(db)]
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
