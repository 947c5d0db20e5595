"""Connected social accounts: status, rate-limit pause, and the only code that changes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time
from typing import Any

from pymongo.database import Database

from common.db import ACCOUNTS, Doc
from common.media_rules import MastodonInstanceLimits
from common.model import PLATFORMS, Account
from common.slots import Schedule, Slot


def create(
    db: Database[Doc],
    *,
    account_id: str,
    platform: str,
    external_id: str,
    name: str,
    token_ciphertext: str,
    token_expires_at: datetime | None,
    now: datetime,
    service_url: str | None = None,
    session_ciphertext: str | None = None,
    instance_limits: MastodonInstanceLimits | None = None,
) -> Account:
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}")
    doc: Doc = {
        "_id": account_id,
        "platform": platform,
        "externalId": external_id,
        "name": name,
        "token": token_ciphertext,
        "tokenExpiresAt": token_expires_at,
        "status": "active",
        "pausedUntil": None,
        "serviceUrl": service_url,
        "session": session_ciphertext,
        "instanceLimits": None if instance_limits is None else instance_limits.to_doc(),
        "createdAt": now,
        "updatedAt": now,
    }
    db[ACCOUNTS].insert_one(doc)
    return Account.from_doc(doc)


def get(db: Database[Doc], account_id: str) -> Account | None:
    doc = db[ACCOUNTS].find_one({"_id": account_id})
    return None if doc is None else Account.from_doc(doc)


def load_many(db: Database[Doc], account_ids: Iterable[str]) -> dict[str, Account]:
    """One round trip for all the accounts a batch of posts needs."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    return {
        str(doc["_id"]): Account.from_doc(doc) for doc in db[ACCOUNTS].find({"_id": {"$in": ids}})
    }


def list_all(db: Database[Doc], limit: int = 0) -> list[Account]:
    """Every account by id; `limit` (0: none) bounds a page that lists them for people."""
    return [Account.from_doc(doc) for doc in db[ACCOUNTS].find().sort("_id", 1).limit(limit)]


def pause_until(db: Database[Doc], account_id: str, until: datetime, now: datetime) -> None:
    """Rate-limit back-off: only ever moves the pause later."""
    db[ACCOUNTS].update_one(
        {"_id": account_id, "$or": [{"pausedUntil": None}, {"pausedUntil": {"$lt": until}}]},
        {"$set": {"pausedUntil": until, "updatedAt": now}},
    )


def mark_needs_reauth(db: Database[Doc], account_id: str, now: datetime) -> bool:
    """True when this call changed the status (so the caller reports it once)."""
    result = db[ACCOUNTS].update_one(
        {"_id": account_id, "status": "active"},
        {"$set": {"status": "needs_reauth", "updatedAt": now}},
    )
    return result.modified_count == 1


def replace_token(
    db: Database[Doc],
    account_id: str,
    token_ciphertext: str,
    token_expires_at: datetime | None,
    now: datetime,
    session_ciphertext: str | None = None,
) -> bool:
    """Re-authentication: a new token makes the account active again; a session made with the
    old credential is replaced (or dropped), since the old one may have been revoked with it."""
    result = db[ACCOUNTS].update_one(
        {"_id": account_id},
        {
            "$set": {
                "token": token_ciphertext,
                "tokenExpiresAt": token_expires_at,
                "status": "active",
                "pausedUntil": None,
                "session": session_ciphertext,
                "updatedAt": now,
            }
        },
    )
    return result.matched_count == 1


def set_instance_limits(
    db: Database[Doc], account_id: str, limits: MastodonInstanceLimits, now: datetime
) -> None:
    """The limits the account's server stated, read now (common.media_rules applies them)."""
    db[ACCOUNTS].update_one(
        {"_id": account_id}, {"$set": {"instanceLimits": limits.to_doc(), "updatedAt": now}}
    )


def move_service(db: Database[Doc], account_id: str, service_url: str, now: datetime) -> None:
    """The account now lives on another server (an AT Protocol account can move to another
    PDS); a session from the old one is dropped."""
    db[ACCOUNTS].update_one(
        {"_id": account_id},
        {"$set": {"serviceUrl": service_url, "session": None, "updatedAt": now}},
    )


def set_external_id(db: Database[Doc], account_id: str, external_id: str, now: datetime) -> None:
    """The account's id on its server changed (the local stack's sandboxes start empty)."""
    db[ACCOUNTS].update_one(
        {"_id": account_id}, {"$set": {"externalId": external_id, "updatedAt": now}}
    )


def store_refreshed_token(
    db: Database[Doc],
    account_id: str,
    token_ciphertext: str,
    expires_at: datetime | None,
    now: datetime,
) -> None:
    """A token renewed by its network (Threads' refresh): its status is left as it is."""
    db[ACCOUNTS].update_one(
        {"_id": account_id},
        {"$set": {"token": token_ciphertext, "tokenExpiresAt": expires_at, "updatedAt": now}},
    )


def store_session(
    db: Database[Doc], account_id: str, session_ciphertext: str, now: datetime
) -> None:
    """Keep a platform session (already encrypted) so later runs need not log in again."""
    db[ACCOUNTS].update_one(
        {"_id": account_id}, {"$set": {"session": session_ciphertext, "updatedAt": now}}
    )


def set_token_expiry(
    db: Database[Doc], account_id: str, expires_at: datetime, now: datetime
) -> None:
    """Record what /debug_token says, so operators see expiry without calling Meta."""
    db[ACCOUNTS].update_one(
        {"_id": account_id}, {"$set": {"tokenExpiresAt": expires_at, "updatedAt": now}}
    )


def set_slots(db: Database[Doc], account_id: str, schedule: Schedule, now: datetime) -> bool:
    """Replace the account's posting slots; posts already in a slot stay where they are."""
    slots = [{"weekday": s.weekday, "at": s.at.strftime("%H:%M")} for s in schedule.slots]
    result = db[ACCOUNTS].update_one(
        {"_id": account_id},
        {"$set": {"slots": {"timeZone": schedule.time_zone, "times": slots}, "updatedAt": now}},
    )
    return bool(result.matched_count == 1)


def slots_in(doc: Mapping[str, Any]) -> Schedule | None:
    """The posting slots an account's document holds (None: none set)."""
    stored = doc.get("slots")
    if not stored:
        return None
    times = tuple(Slot(int(t["weekday"]), time.fromisoformat(t["at"])) for t in stored["times"])
    return Schedule(str(stored["timeZone"]), times)
