"""One cached MongoClient per process, the collections, and idempotent index creation."""

from __future__ import annotations

import threading
from datetime import UTC
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError

from common.config import Settings

POSTS = "posts"
ACCOUNTS = "accounts"
SCHEDULER_STATE = "scheduler_state"
API_KEYS = "api_keys"
AUDIT = "audit"

Doc = dict[str, Any]

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
        maxPoolSize=settings.publish_workers + 8,
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


def ensure_indexes(db: Database[Doc]) -> None:
    """Create the indexes the queries rely on; safe to call on every deploy or start."""
    posts = db[POSTS]
    posts.create_index([("status", ASCENDING), ("dueAt", ASCENDING)], name="status_dueAt")
    posts.create_index(
        [("accountId", ASCENDING), ("publishedAt", DESCENDING)], name="accountId_publishedAt"
    )
    posts.create_index([("lease.runId", ASCENDING)], name="lease_runId", sparse=True)
    # The same request (CSV row, API item) never makes a second post (operations.post_key).
    posts.create_index(
        [("idempotencyKey", ASCENDING)], name="idempotencyKey", unique=True, sparse=True
    )
    # posts.list_page: the (dueAt, _id) order, alone or after an account or a status.
    posts.create_index([("dueAt", ASCENDING), ("_id", ASCENDING)], name="dueAt_id")
    posts.create_index(
        [("accountId", ASCENDING), ("dueAt", ASCENDING), ("_id", ASCENDING)],
        name="accountId_dueAt_id",
    )
    # Entries expire on their own (audit.record sets expireAt from AUDIT_RETENTION_DAYS).
    db[AUDIT].create_index([("expireAt", ASCENDING)], name="expireAt_ttl", expireAfterSeconds=0)
    db[ACCOUNTS].create_index(
        [("platform", ASCENDING), ("status", ASCENDING)], name="platform_status"
    )
