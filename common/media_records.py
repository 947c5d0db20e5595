"""The `media` collection: one record per uploaded file and account scope.

A record is created `uploading` when the api hands out an upload session, and becomes `ready`
(with the facts read from its bytes and the variants made for its networks) or `rejected` (with
the reasons) when the upload is completed. Identical bytes for the same account scope are one
record: (scope, sha256) is unique. Only this module writes the collection.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database

from common.db import MEDIA, Doc
from common.media_rules import MediaFacts, MediaProblem

COLLECTION = MEDIA
MediaState = Literal["uploading", "ready", "rejected"]


@dataclass(frozen=True)
class Variant:
    """A converted copy for one purpose ("clean", or a network that needs its own)."""

    object_name: str
    facts: MediaFacts
    quality: int | None = None  # the JPEG quality chosen to fit a byte limit


@dataclass(frozen=True)
class MediaItem:
    id: str
    owner: str
    account_ids: tuple[str, ...]
    platforms: tuple[str, ...]  # of those accounts: the networks it is checked and converted for
    sha256: str
    declared_type: str
    declared_bytes: int
    filename: str | None
    state: MediaState
    object_name: str
    created_at: datetime
    facts: MediaFacts | None = None
    problems: tuple[MediaProblem, ...] = ()
    variants: Mapping[str, Variant] = field(default_factory=dict)
    last_used_at: datetime | None = None

    def object_for(self, purpose: str) -> Variant | None:
        """The variant for `purpose` (a platform), else the cleaned copy, else the original."""
        chosen = self.variants.get(purpose) or self.variants.get("clean")
        if chosen is not None:
            return chosen
        return Variant(self.object_name, self.facts) if self.facts else None


def scope_key(account_ids: Iterable[str]) -> str:
    return ",".join(sorted(set(account_ids)))


def new_id() -> str:
    return f"med_{secrets.token_hex(10)}"


def object_name(media_id: str, purpose: str = "original") -> str:
    return f"media/{media_id}/{purpose}"


def find_or_create(
    db: Database[Doc],
    *,
    owner: str,
    account_ids: Sequence[str],
    platforms: Sequence[str],
    sha256: str,
    declared_type: str,
    declared_bytes: int,
    filename: str | None,
    now: datetime,
) -> tuple[MediaItem, bool]:
    """The record for these bytes and this scope, and whether this call created it (one
    command: an upsert that answers with the record as it was before)."""
    media_id = new_id()
    doc: Doc = {
        "_id": media_id,
        "owner": owner,
        "accountIds": sorted(set(account_ids)),
        "platforms": sorted(set(platforms)),
        "declaredType": declared_type,
        "declaredBytes": declared_bytes,
        "filename": filename,
        "state": "uploading",
        "object": object_name(media_id),
        "createdAt": now,
        "lastUsedAt": now,
    }
    before = db[COLLECTION].find_one_and_update(
        {"scope": scope_key(account_ids), "sha256": sha256},
        {"$setOnInsert": doc},
        upsert=True,
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        created = {**doc, "scope": scope_key(account_ids), "sha256": sha256}
        return from_doc(created), True
    return from_doc(before), False


def get(db: Database[Doc], media_id: str) -> MediaItem | None:
    doc = db[COLLECTION].find_one({"_id": media_id})
    return from_doc(doc) if doc else None


def get_many(db: Database[Doc], media_ids: Iterable[str]) -> dict[str, MediaItem]:
    ids = sorted(set(media_ids))
    if not ids:
        return {}
    return {str(d["_id"]): from_doc(d) for d in db[COLLECTION].find({"_id": {"$in": ids}})}


def settle_upload(
    db: Database[Doc],
    media_id: str,
    *,
    facts: MediaFacts | None,
    problems: Sequence[MediaProblem],
    variants: Mapping[str, Variant],
    now: datetime,
) -> MediaItem | None:
    """`ready` without problems, `rejected` with them; only from `uploading` (None: it was not)."""
    state: MediaState = "rejected" if problems else "ready"
    doc = db[COLLECTION].find_one_and_update(
        {"_id": media_id, "state": "uploading"},
        {
            "$set": {
                "state": state,
                "facts": _facts_doc(facts) if facts else None,
                "problems": [{"rule": p.rule, "message": p.message} for p in problems],
                "variants": {k: _variant_doc(v) for k, v in variants.items()},
                "completedAt": now,
                "lastUsedAt": now,
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    return from_doc(doc) if doc else None


def mark_used(db: Database[Doc], media_ids: Iterable[str], now: datetime) -> None:
    """A post took these items (scheduled or edited): their retention counts from now."""
    ids = sorted(set(media_ids))
    if ids:
        db[COLLECTION].update_many({"_id": {"$in": ids}}, {"$set": {"lastUsedAt": now}})


def abandoned(db: Database[Doc], before: datetime, limit: int) -> list[MediaItem]:
    """Uploads started before `before` and never completed."""
    cursor = (
        db[COLLECTION]
        .find({"state": "uploading", "createdAt": {"$lt": before}})
        .sort("createdAt", ASCENDING)
        .limit(limit)
    )
    return [from_doc(d) for d in cursor]


def unused_since(db: Database[Doc], before: datetime, limit: int) -> list[MediaItem]:
    """Completed items no post has taken since `before`, oldest first."""
    cursor = (
        db[COLLECTION]
        .find({"lastUsedAt": {"$lt": before}, "state": {"$ne": "uploading"}})
        .sort("lastUsedAt", ASCENDING)
        .limit(limit)
    )
    return [from_doc(d) for d in cursor]


def touch(db: Database[Doc], media_id: str, now: datetime) -> None:
    """Still used by an unfinished post: look again after another retention period."""
    db[COLLECTION].update_one({"_id": media_id}, {"$set": {"lastUsedAt": now}})


def remove(db: Database[Doc], media_id: str) -> None:
    db[COLLECTION].delete_one({"_id": media_id})


def all_objects(item: MediaItem) -> list[str]:
    return [item.object_name, *(v.object_name for v in item.variants.values())]


def from_doc(doc: Mapping[str, Any]) -> MediaItem:
    facts = doc.get("facts")
    return MediaItem(
        id=str(doc["_id"]),
        owner=str(doc.get("owner", "")),
        account_ids=tuple(doc.get("accountIds") or ()),
        platforms=tuple(doc.get("platforms") or ()),
        sha256=str(doc.get("sha256", "")),
        declared_type=str(doc.get("declaredType", "")),
        declared_bytes=int(doc.get("declaredBytes", 0)),
        filename=doc.get("filename"),
        state=doc["state"],
        object_name=str(doc["object"]),
        created_at=doc["createdAt"],
        facts=_facts(facts) if facts else None,
        problems=tuple(MediaProblem(p["rule"], p["message"]) for p in doc.get("problems") or ()),
        variants={k: _variant(v) for k, v in (doc.get("variants") or {}).items()},
        last_used_at=doc.get("lastUsedAt"),
    )


def _facts_doc(facts: MediaFacts) -> Doc:
    return {
        "mime": facts.mime,
        "bytes": facts.bytes,
        "width": facts.width,
        "height": facts.height,
        "durationSeconds": facts.duration_seconds,
        "codec": facts.codec,
        "fps": facts.fps,
    }


def _facts(doc: Mapping[str, Any]) -> MediaFacts:
    return MediaFacts(
        mime=doc["mime"],
        bytes=int(doc["bytes"]),
        width=doc.get("width"),
        height=doc.get("height"),
        duration_seconds=doc.get("durationSeconds"),
        codec=doc.get("codec"),
        fps=doc.get("fps"),
    )


def _variant_doc(variant: Variant) -> Doc:
    return {
        "object": variant.object_name,
        "facts": _facts_doc(variant.facts),
        "quality": variant.quality,
    }


def _variant(doc: Mapping[str, Any]) -> Variant:
    return Variant(doc["object"], _facts(doc["facts"]), doc.get("quality"))
