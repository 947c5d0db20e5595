"""An in-process publisher that records every send in the real database.

Engine tests use it in place of the Graph API adapters (those have their own tests against the
sandbox). Each send inserts one document into `platform_log`, so a duplicate publish is a
second document for the same post: tests count them. Works across processes because the log
lives in MongoDB, not in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pymongo.database import Database

from common.clock import utcnow
from common.db import Doc
from common.model import Account, Post
from common.platforms.base import (
    Outcome,
    PublishContext,
    Published,
    Registry,
    Withdrawn,
)

LOG = "platform_log"
Script = Callable[[Post], Outcome | None]


@dataclass
class RecordingPublisher:
    """Publishes by inserting into `platform_log`.

    `script(post)` may return an outcome to answer instead of publishing (a fault), or None
    to publish. `latency` is slept after begin_send, as a real platform call would take.
    `after_send(post)` runs after the record is written (tests use it to freeze or cancel).
    """

    db: Database[Doc]
    platform: str = "facebook"
    latency: float = 0.0
    script: Script | None = None
    after_send: Callable[[Post], None] | None = None
    before_send: Callable[[Post], None] | None = None
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        with self._lock:
            self.calls += 1
        if self.script is not None and (outcome := self.script(post)) is not None:
            return outcome
        if self.before_send is not None:
            self.before_send(post)
        if not ctx.begin_send():
            return Withdrawn("post changed before send")
        started = utcnow()
        if self.latency:
            time.sleep(self.latency)
        result = self.db[LOG].insert_one(
            {
                "postId": post.id,
                "startedAt": started,
                "accountId": account.id,
                "text": post.content.text,
                "replyTo": dict(post.reply_to),
                "at": utcnow(),
            }
        )
        if self.after_send is not None:
            self.after_send(post)
        return Published(f"{self.platform}_{result.inserted_id}")

    def find_published(self, post: Post, account: Account) -> Published | None:
        doc = self.db[LOG].find_one({"postId": post.id})
        return None if doc is None else Published(f"{self.platform}_{doc['_id']}")


def registry_for(db: Database[Doc], **kwargs: object) -> Registry:
    return Registry(
        [
            RecordingPublisher(db, platform="facebook", **kwargs),  # type: ignore[arg-type]
            RecordingPublisher(db, platform="instagram", **kwargs),  # type: ignore[arg-type]
        ]
    )


def most_at_once(db: Database[Doc], account_id: str) -> int:
    """The most sends of one account under way at the same time (from begin_send to the
    platform's answer, as logged)."""
    edges = []
    for row in db[LOG].find({"accountId": account_id}):
        edges += [(row["startedAt"], 1), (row["at"], -1)]
    most = under_way = 0
    for _, step in sorted(edges):  # at the same instant an end comes before a start
        under_way += step
        most = max(most, under_way)
    return most


def sends_per_post(db: Database[Doc]) -> dict[object, int]:
    counts: dict[object, int] = {}
    for row in db[LOG].aggregate([{"$group": {"_id": "$postId", "n": {"$sum": 1}}}]):
        counts[row["_id"]] = row["n"]
    return counts
