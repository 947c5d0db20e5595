"""Signed-in sessions of the web app, kept server-side so that each one can be revoked.

The browser holds a random token (256 bits); only its sha256 is stored, so a copy of the
database signs nobody in. Each session carries its own CSRF token, the member and the role it
was opened with; it expires (a TTL index removes it) and is revoked by signing out, or for
every session of a member whose role changes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.database import Database

from common.db import WEB_SESSIONS, Doc
from common.members import Role


@dataclass(frozen=True)
class Session:
    who: str  # "member:<email>", "key:<id>" or "admin_key": the audit trail's name for them
    role: Role
    csrf: str
    expires_at: datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    db: Database[Doc], who: str, role: Role, now: datetime, lifetime: timedelta
) -> tuple[str, Session]:
    """A new session; the token is returned once, for the cookie, and never stored."""
    token = secrets.token_urlsafe(32)
    session = Session(who, role, secrets.token_urlsafe(32), now + lifetime)
    db[WEB_SESSIONS].insert_one(
        {
            "_id": digest(token),
            "who": who,
            "role": role,
            "csrf": session.csrf,
            "createdAt": now,
            "expiresAt": session.expires_at,
        }
    )
    return token, session


def find(db: Database[Doc], token: str, now: datetime) -> Session | None:
    """The live session this token opened (one indexed read by _id)."""
    doc = db[WEB_SESSIONS].find_one({"_id": digest(token), "expiresAt": {"$gt": now}})
    if doc is None or "who" not in doc:  # a sign-in under way is no session
        return None
    return Session(str(doc["who"]), doc["role"], str(doc["csrf"]), doc["expiresAt"])


def end(db: Database[Doc], token: str) -> bool:
    return bool(db[WEB_SESSIONS].delete_one({"_id": digest(token)}).deleted_count == 1)


def end_all_of(db: Database[Doc], who: str) -> int:
    """Sign a member out everywhere (their role changed, or they were removed)."""
    return int(db[WEB_SESSIONS].delete_many({"who": who}).deleted_count)


# A Google sign-in under way: its state, nonce and PKCE verifier wait here (never in the
# browser) under the hash of a random token the browser holds, until the provider sends the
# browser back; taking it removes it, so each one is used once.


def start_flow(
    db: Database[Doc], secrets_of_flow: dict[str, str], now: datetime, lifetime: timedelta
) -> str:
    token = secrets.token_urlsafe(32)
    db[WEB_SESSIONS].insert_one(
        {"_id": digest(token), "flow": secrets_of_flow, "expiresAt": now + lifetime}
    )
    return token


def take_flow(db: Database[Doc], token: str, now: datetime) -> dict[str, str] | None:
    doc = db[WEB_SESSIONS].find_one_and_delete(
        {"_id": digest(token), "flow": {"$exists": True}, "expiresAt": {"$gt": now}}
    )
    return None if doc is None else dict(doc["flow"])
