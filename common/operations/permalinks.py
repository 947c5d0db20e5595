"""Where a published Instagram or Threads post can be seen: its network's permalink, read once
(the networks give it only when asked) and kept on the post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bson import ObjectId
from pymongo.database import Database

from common import accounts
from common.db import Doc
from common.platforms.base import failure_reason
from common.posts import listing, store

if TYPE_CHECKING:  # the network modules load on first use (cold start)
    from common.platforms.meta.permalink import PermalinkReader


@dataclass(frozen=True)
class NotRead:
    reason: str


def read_permalink(
    db: Database[Doc], reader: PermalinkReader, post_id: ObjectId, now: datetime
) -> str | NotRead:
    doc = listing.get_document(db, post_id)
    if doc is None:
        return NotRead("no such post")
    if doc.get("status") != "published" or not doc.get("platformPostId"):
        return NotRead("only a published post has a permalink")
    if doc.get("platform") not in reader.platforms:
        return NotRead("this network's permalink is derived, not read")
    account = accounts.get(db, str(doc["accountId"]))
    if account is None:
        return NotRead("the post's account is gone")
    link = reader.read(account, str(doc["platformPostId"]), now)
    if not isinstance(link, str):
        return NotRead(f"the network could not be asked: {failure_reason(link)}")
    store.store_permalink(db, post_id, link, now)
    return link
