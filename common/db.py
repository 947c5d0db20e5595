"""One cached MongoClient per process, the collections, and idempotent index creation."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, TypeAlias

from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError

from common import model
from common.config import Settings

POSTS = "posts"
ACCOUNTS = "accounts"
SCHEDULER_STATE = "scheduler_state"
HOURLY_STATS = "hourly_stats"
API_KEYS = "api_keys"
AUDIT = "audit"
MEDIA = "media"
MEMBERS = "members"
WEB_SESSIONS = "web_sessions"
SIGNIN_ATTEMPTS = "signin_attempts"
# Connecting an account in the browser: the flows under way, and our app on each Mastodon
# instance.
CONNECT_FLOWS = "connect_flows"
OAUTH_CLIENTS = "oauth_clients"
# Recurring posts: the rule, the template and the cursor of what is materialised.
SERIES = "series"

# Defined with the values (common.model), which import no database driver; named here too.
Doc: TypeAlias = model.Doc


_clients: dict[tuple[str, int], MongoClient[Doc]] = {}
_clients_lock = threading.Lock()


class DatabaseUnavailableError(RuntimeError):
    """MongoDB did not answer within the configured timeout. The message names no credentials."""


def get_client(settings: Settings) -> MongoClient[Doc]:
    """The process-wide client for these settings (reused across warm invocations)."""
    key = (settings.mongo_uri, settings.mongo_timeout_ms)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _new_client(settings)
            _clients[key] = client
        return client


def _new_client(settings: Settings) -> MongoClient[Doc]:
    timeout = settings.mongo_timeout_ms
    return MongoClient(
        settings.mongo_uri,
        tz_aware=True,
        tzinfo=UTC,
        appname="social-scheduler",
        # Serverless: fail fast when the database is away, keep few idle sockets, and let
        # idle connections go before the platform freezes the instance.
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=max(timeout * 6, 30_000),
        maxPoolSize=settings.mongo_max_pool_size or settings.publish_workers + 8,
        minPoolSize=0,
        maxIdleTimeMS=60_000,
        retryWrites=True,
        retryReads=True,
    )


def get_database(settings: Settings) -> Database[Doc]:
    return get_client(settings)[settings.mongo_db]


def describe_failure(exc: PyMongoError) -> str:
    """A message for operators that never includes the URI (it may hold credentials)."""
    kind = "unreachable" if isinstance(exc, ConnectionFailure) else "error"
    return f"database {kind}: {type(exc).__name__}"


@dataclass(frozen=True)
class IndexSpec:
    """One declared index: the queries of the tick, the status report and the API lead with a
    filter on a prefix of one of these (tests/db/test_query_shapes.py checks every command)."""

    name: str
    keys: tuple[tuple[str, int], ...]
    options: Mapping[str, Any] = field(default_factory=dict)


# Finished posts (published, failed, canceled) carry `finishedAt`; open ones never do, so the
# optional retention index (POST_RETENTION_DAYS) can only ever remove finished posts.
POST_RETENTION_INDEX = "finishedAt_retention"

INDEXES: Mapping[str, tuple[IndexSpec, ...]] = {
    POSTS: (
        # The due queries (a prefix), and the API's list by status in its (dueAt, _id) order.
        IndexSpec(
            "status_dueAt_id", (("status", ASCENDING), ("dueAt", ASCENDING), ("_id", ASCENDING))
        ),
        IndexSpec("accountId_publishedAt", (("accountId", ASCENDING), ("publishedAt", DESCENDING))),
        IndexSpec("lease_runId", (("lease.runId", ASCENDING),), {"sparse": True}),
        # The sweep for posts whose runner died: only `publishing` posts have a lease.
        IndexSpec("status_leaseExpiresAt", (("status", ASCENDING), ("lease.expiresAt", ASCENDING))),
        # The same request (CSV row, API item) never makes a second post (scheduling.post_key).
        IndexSpec(
            "idempotencyKey", (("idempotencyKey", ASCENDING),), {"unique": True, "sparse": True}
        ),
        # "Add to queue" reserves its slot: one post per account and slot instant (a holder
        # that was canceled or moved since gives the key up when the slot is next wanted).
        IndexSpec("slotKey", (("slotKey", ASCENDING),), {"unique": True, "sparse": True}),
        # A group's posts: an ended or split series cancels its unsent ones.
        IndexSpec("groupId_scheduledAt", (("groupId", ASCENDING), ("scheduledAt", ASCENDING))),
        # posts.list_page: the (dueAt, _id) order, alone or after an account (after a status:
        # status_dueAt_id above).
        IndexSpec("dueAt_id", (("dueAt", ASCENDING), ("_id", ASCENDING))),
        IndexSpec(
            "accountId_dueAt_id",
            (("accountId", ASCENDING), ("dueAt", ASCENDING), ("_id", ASCENDING)),
        ),
        # The tick counts what tasks finished (posts.take_uncounted): only those carry it.
        IndexSpec("uncounted_at", (("uncounted.at", ASCENDING),), {"sparse": True}),
        # Follow-ups: the parts below a post (released, stopped or revived in one write).
        IndexSpec(
            "ancestors_status",
            (("ancestors", ASCENDING), ("status", ASCENDING)),
            {"sparse": True},
        ),
        # The media sweep asks whether an unfinished post still uses an item.
        IndexSpec(
            "mediaId_status",
            (("content.media.mediaId", ASCENDING), ("status", ASCENDING)),
            {"sparse": True},
        ),
    ),
    # Identical bytes for one account scope are one item; the sweeps read by state and age.
    MEDIA: (
        IndexSpec("scope_sha256", (("scope", ASCENDING), ("sha256", ASCENDING)), {"unique": True}),
        IndexSpec("state_createdAt", (("state", ASCENDING), ("createdAt", ASCENDING))),
        IndexSpec("lastUsedAt", (("lastUsedAt", ASCENDING),)),
    ),
    ACCOUNTS: (IndexSpec("platform_status", (("platform", ASCENDING), ("status", ASCENDING))),),
    # Entries expire on their own (audit.record sets expireAt from AUDIT_RETENTION_DAYS).
    AUDIT: (
        IndexSpec("expireAt_ttl", (("expireAt", ASCENDING),), {"expireAfterSeconds": 0}),
        # The web app's post page: what people did to one post, in order.
        IndexSpec("targets_at", (("targets", ASCENDING), ("at", ASCENDING))),
    ),
    # The web app's sessions expire on their own; a member's are found to sign them out.
    WEB_SESSIONS: (
        IndexSpec("expiresAt_ttl", (("expiresAt", ASCENDING),), {"expireAfterSeconds": 0}),
        IndexSpec("who", (("who", ASCENDING),)),
    ),
    # A series is due for materialising at `materialiseAt` (unset once it has no more to make).
    SERIES: (IndexSpec("materialiseAt", (("materialiseAt", ASCENDING),), {"sparse": True}),),
    SIGNIN_ATTEMPTS: (
        IndexSpec("expireAt_ttl", (("expireAt", ASCENDING),), {"expireAfterSeconds": 0}),
    ),
    CONNECT_FLOWS: (
        IndexSpec("expireAt_ttl", (("expireAt", ASCENDING),), {"expireAfterSeconds": 0}),
    ),
    # One document per hour; each expires a day after its hour ended (see common/stats.py).
    HOURLY_STATS: (
        IndexSpec("expiresAt_ttl", (("expiresAt", ASCENDING),), {"expireAfterSeconds": 0}),
    ),
}


def ensure_indexes(db: Database[Doc], post_retention_days: int | None = None) -> None:
    """Create the indexes the queries rely on; safe to call on every deploy or start.

    `post_retention_days` (POST_RETENTION_DAYS): N removes finished posts N days after they
    finished (a TTL index on `finishedAt`), 0 turns that off, None leaves it as it is, so a
    command run without the setting never drops a retention someone chose.
    """
    for collection, specs in INDEXES.items():
        # One createIndexes command per collection: a third of the time of one per index.
        models = [IndexModel(list(s.keys), name=s.name, **s.options) for s in specs]
        db[collection].create_indexes(models)
    if post_retention_days is not None:
        _set_post_retention(db, post_retention_days)


def _set_post_retention(db: Database[Doc], days: int) -> None:
    existing = db[POSTS].index_information().get(POST_RETENTION_INDEX)
    wanted = days * 86_400 if days > 0 else None
    if existing is not None and existing.get("expireAfterSeconds") == wanted:
        return
    if existing is not None:
        # MongoDB refuses to re-create an index under the same name with another TTL.
        db[POSTS].drop_index(POST_RETENTION_INDEX)
    if wanted is not None:
        db[POSTS].create_index(
            [("finishedAt", ASCENDING)], name=POST_RETENTION_INDEX, expireAfterSeconds=wanted
        )
