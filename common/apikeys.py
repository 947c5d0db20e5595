"""API keys: scoped credentials for the api function, stored only as a hash, with a per-key
fixed-window rate limit kept on the key's own document.

A key reads `sk_<id>_<secret>`. Only sha256(secret) is stored: the secret has 256 random bits,
so a fast hash is enough (nothing to brute-force), and the stored hash is compared in constant
time. The id finds the document, so no query ever carries the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from common.accounts import load_many
from common.db import API_KEYS, Doc

SCOPES = ("posts:read", "posts:write", "posts:approve", "accounts:write", "admin")
PREFIX = "sk"
MAX_NAME_LENGTH = 200
RATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[str]
    accounts: tuple[str, ...] | None  # None: every account
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @classmethod
    def from_doc(cls, doc: Doc) -> ApiKey:
        limited = doc.get("accounts")
        return cls(
            id=str(doc["_id"]),
            name=str(doc.get("name", "")),
            scopes=frozenset(doc.get("scopes") or ()),
            accounts=None if limited is None else tuple(limited),
            created_at=doc["createdAt"],
            revoked_at=doc.get("revokedAt"),
        )


@dataclass(frozen=True)
class Created:
    key: ApiKey
    secret: str  # the whole key, shown once; never stored
    # Named accounts not connected (yet): the key reaches them once they are, or never if
    # misspelt, so the maker is told.
    unknown_accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verified:
    key: ApiKey
    requests_in_window: int
    window_ends: datetime


def create(
    db: Database[Doc],
    name: str,
    scopes: Sequence[str],
    now: datetime,
    accounts: Sequence[str] | None = None,
) -> Created:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown)}")
    # Printable: `keys list` writes names to a terminal, where control characters would act.
    if not name.strip() or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ValueError(
            f"a key's name has 1 to {MAX_NAME_LENGTH} printable characters, not only spaces"
        )
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    doc: Doc = {
        "_id": key_id,
        "name": name,
        "hash": _digest(secret),
        "scopes": sorted(set(scopes)),
        "accounts": None if accounts is None else sorted(set(accounts)),
        "createdAt": now,
        "revokedAt": None,
    }
    db[API_KEYS].insert_one(doc)
    unknown = sorted(set(accounts or ()) - set(load_many(db, accounts or ())))
    return Created(ApiKey.from_doc(doc), f"{PREFIX}_{key_id}_{secret}", tuple(unknown))


def list_all(db: Database[Doc]) -> list[ApiKey]:
    return [ApiKey.from_doc(d) for d in db[API_KEYS].find({}, {"hash": 0}).sort("createdAt", 1)]


def revoke(db: Database[Doc], key_id: str, now: datetime) -> bool:
    result = db[API_KEYS].update_one(
        {"_id": key_id, "revokedAt": None}, {"$set": {"revokedAt": now}}
    )
    return bool(result.modified_count == 1)


def looks_like_key(token: str) -> bool:
    return token.startswith(f"{PREFIX}_") and token.count("_") >= 2


def verify(db: Database[Doc], token: str, now: datetime) -> Verified | None:
    """The live key this token is, counting this request in its rate window; None otherwise.

    One command in the common case: the count rides on the read of the key (a new window costs
    a second one, once a minute). A wrong secret takes its count back, so whoever knows only a
    key's id (it is in the audit trail and the logs) cannot spend the key's requests, and an
    unknown id and a wrong secret both cost two commands.
    """
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    key_id, secret = parts[1], parts[2]
    window = _window_start(now)
    doc = _count(db, {"_id": key_id, "revokedAt": None, "window": window}, {"$inc": {"n": 1}})
    if doc is None:
        doc = _count(db, {"_id": key_id, "revokedAt": None}, {"$set": {"window": window, "n": 1}})
    if doc is None:
        return None
    if not hmac.compare_digest(str(doc.get("hash", "")), _digest(secret)):
        db[API_KEYS].update_one({"_id": key_id, "window": window}, {"$inc": {"n": -1}})
        return None
    return Verified(ApiKey.from_doc(doc), int(doc["n"]), window + RATE_WINDOW)


def _count(db: Database[Doc], match: Doc, update: Doc) -> Doc | None:
    found: dict[str, Any] | None = db[API_KEYS].find_one_and_update(
        match, update, return_document=ReturnDocument.AFTER
    )
    return found


def _window_start(now: datetime) -> datetime:
    seconds = int(RATE_WINDOW.total_seconds())
    return now.replace(microsecond=0) - timedelta(seconds=int(now.timestamp()) % seconds)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
