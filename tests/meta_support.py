"""Helpers for tests that publish through the real adapters to the sandbox Graph API."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bson import ObjectId
from cryptography.fernet import Fernet
from pymongo.database import Database

from common import accounts
from common.clock import ScheduledTime, utcnow
from common.config import Settings
from common.engine import Trigger, execute_once
from common.model import Account, Content, Media, Post
from common.platforms.registry import default_registry
from common.posts import store
from common.tokens import TokenCipher
from devstack.sandbox.control import Sandbox

TOKEN_KEY = Fernet.generate_key().decode()


def meta_env(sandbox: Sandbox, **extra: object) -> dict[str, object]:
    """Settings that point the adapters at the sandbox, with short timeouts and waits."""
    env: dict[str, object] = {
        "META_GRAPH_URL": sandbox.url,
        "THREADS_GRAPH_URL": sandbox.url,  # the sandbox serves Threads' host too
        "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
        "META_CONNECT_TIMEOUT_SECONDS": "2",
        "META_READ_TIMEOUT_SECONDS": "1",
        "IG_POLL_INTERVAL_SECONDS": "0.05",
        "IG_MAX_WAIT_SECONDS": "1",
    }
    env.update(extra)
    return env


def image(sandbox: Sandbox, name: str = "a.jpg", alt: str = "") -> Media:
    """A JPEG the sandbox serves, so Meta's fetch of it succeeds."""
    return Media(sandbox.image_url(name), alt=alt)


def video(sandbox: Sandbox, name: str = "a.mp4") -> Media:
    return Media(sandbox.image_url(name, mime="video/mp4"), "video")


def token_for(account_id: str) -> str:
    return f"EAAB-secret-token-{account_id}"


# A token whose URL-encoded and JSON-escaped forms differ from the raw one (`+`, `/`, `=`).
ENCODABLE_TOKEN = "EAAB+echo/secret=="


def connect(
    db: Database | None,  # type: ignore[type-arg]
    sandbox: Sandbox,
    account_id: str,
    platform: str = "facebook",
    token: str | None = None,
) -> Account:
    """Register the account in the sandbox and (when `db` is given) in MongoDB, token encrypted."""
    kind = {"facebook": "page", "instagram": "instagram", "threads": "threads"}[platform]
    plaintext = token or token_for(account_id)
    sandbox.add_account(account_id, kind, plaintext)
    ciphertext = TokenCipher((TOKEN_KEY,)).encrypt(plaintext)
    if db is None:
        return Account(account_id, platform, account_id, account_id, ciphertext)
    return accounts.create(
        db,
        account_id=account_id,
        platform=platform,
        external_id=account_id,
        name=account_id,
        token_ciphertext=ciphertext,
        token_expires_at=None,
        now=utcnow(),
    )


@dataclass
class StubContext:
    """Stands in for the engine's PublishContext in adapter-level tests (the end-to-end tests
    use the engine's real one). Records what the adapter stored and when it began the send."""

    budget: float = 60.0
    allow_send: bool = True
    remote: dict[str, str] = field(default_factory=dict)
    sends: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record_remote(self, remote: Mapping[str, str]) -> bool:
        with self._lock:
            self.remote.update(remote)
        return self.allow_send

    def begin_send(self, remote: Mapping[str, str] | None = None) -> bool:
        with self._lock:
            self.remote.update(remote or {})
            if self.allow_send:
                self.sends += 1
        return self.allow_send

    def seconds_left(self) -> float:
        return self.budget


def claimed_post(account_id: str, platform: str, content: Content) -> Post:
    """A post as the engine hands it to an adapter: claimed, due now."""
    now = utcnow()
    return Post(
        id=ObjectId(),
        account_id=account_id,
        platform=platform,
        content=content,
        scheduled_at=now,
        time_zone="UTC",
        due_at=now,
        status="publishing",
        version=1,
    )


def publish_due(
    db: Database,  # type: ignore[type-arg]
    settings: Settings,
    account_id: str,
    content: Content,
    platform: str = "facebook",
) -> dict[str, Any]:
    """Schedule one post due now, run once with the real adapters, return the stored post.

    For answers that only the per-post work settles: an unclear answer to a send is looked up
    on the platform by the run (common.transitions), not by the adapter.
    """
    due = utcnow() - timedelta(seconds=5)
    post_id = store.create(
        db,
        account_id=account_id,
        platform=platform,
        content=content,
        when=ScheduledTime(due, "UTC", due.isoformat()),
        now=utcnow(),
    )
    execute_once(settings, Trigger("cli"), default_registry(settings), db=db)
    stored: dict[str, Any] | None = db["posts"].find_one({"_id": post_id})
    assert stored is not None
    return stored
