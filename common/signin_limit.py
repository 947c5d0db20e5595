"""Sign-in attempts counted per client in fixed one-minute windows (one command each).

Each window is its own small document that expires on its own (a TTL index), so the count
never needs a cleanup and a burst from one client never slows another's sign-in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.database import Database

from common.db import SIGNIN_ATTEMPTS, Doc

WINDOW = timedelta(minutes=1)


def count(db: Database[Doc], client: str, now: datetime) -> int:
    """Count this attempt; the number of attempts of this client in the current window."""
    window = now.replace(second=0, microsecond=0)
    # Hashed: the collection names no client address in clear.
    key = hashlib.sha256(f"{client}|{window.isoformat()}".encode()).hexdigest()
    doc: Doc | None = db[SIGNIN_ATTEMPTS].find_one_and_update(
        {"_id": key},
        {"$inc": {"n": 1}, "$setOnInsert": {"expireAt": window + 2 * WINDOW}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc is not None  # an upsert returning the document after it always finds one
    return int(doc["n"])


def retry_after(now: datetime) -> int:
    """Whole seconds until the current window ends."""
    return max(1, 60 - now.second)
