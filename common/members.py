"""Members of the web app: who may sign in with Google (OpenID Connect) and with which role.

A member is named by their verified e-mail address (lowercased). Roles are ordered: a viewer
reads, an editor also changes posts and accounts, an approver also approves posts awaiting
approval or sends them back, an admin also manages members. Which role
allows which kind of action is this one table, checked server-side on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pymongo.database import Database

from common.db import MEMBERS, Doc

Role = Literal["viewer", "editor", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "approver", "admin")
Power = Literal["read", "write", "approve", "manage"]
_POWERS: dict[Role, frozenset[Power]] = {
    "viewer": frozenset({"read"}),
    "editor": frozenset({"read", "write"}),
    "approver": frozenset({"read", "write", "approve"}),
    "admin": frozenset({"read", "write", "approve", "manage"}),
}


def allows(role: Role, power: Power) -> bool:
    return power in _POWERS[role]


def parse_role(raw: str) -> Role | None:
    return next((r for r in ROLES if r == raw), None)


@dataclass(frozen=True)
class Member:
    email: str
    role: Role
    added_by: str
    added_at: datetime

    @classmethod
    def from_doc(cls, doc: Doc) -> Member:
        return cls(str(doc["_id"]), doc["role"], str(doc.get("addedBy", "")), doc["addedAt"])


def normalise(email: str) -> str:
    return email.strip().lower()


def get(db: Database[Doc], email: str) -> Member | None:
    doc = db[MEMBERS].find_one({"_id": normalise(email)})
    return None if doc is None else Member.from_doc(doc)


def list_all(db: Database[Doc]) -> list[Member]:
    return [Member.from_doc(d) for d in db[MEMBERS].find({}).sort("_id", 1).limit(1000)]


def put(db: Database[Doc], email: str, role: Role, added_by: str, now: datetime) -> Member:
    """Add a member or change their role."""
    doc: Doc = {"_id": normalise(email), "role": role, "addedBy": added_by, "addedAt": now}
    db[MEMBERS].replace_one({"_id": doc["_id"]}, doc, upsert=True)
    return Member.from_doc(doc)


def remove(db: Database[Doc], email: str) -> bool:
    return bool(db[MEMBERS].delete_one({"_id": normalise(email)}).deleted_count == 1)
