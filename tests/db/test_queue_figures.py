"""The status report's queue figures (posts.figures): exact below the cap, "at least the cap"
above it, never reading more than the cap's index keys per window."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.database import Database

from common.clock import utcnow
from common.db import POSTS, Doc
from common.posts import figures
from common.posts.figures import QueueCounts
from tests.conftest import add_post

MINUTE = timedelta(minutes=1)


def _set_status(db: Database[Doc], post_ids: list[object], status: str) -> None:
    db[POSTS].update_many({"_id": {"$in": post_ids}}, {"$set": {"status": status}})


def _queue_counts(db: Database[Doc], now: datetime, cap: int) -> QueueCounts:
    """The two windows read on their own (the status report joins them to its one command)."""
    open_rows = list(db[POSTS].aggregate(figures.open_window(now, cap)))
    attention_rows = list(db[POSTS].aggregate(figures.attention_window(cap)))
    return figures.counts_of(db, now, open_rows, attention_rows, cap)


def test_below_the_cap_every_figure_is_exact(db: Database[Doc]) -> None:
    now = utcnow()
    for i in range(3):
        add_post(db, "a", now - MINUTE * (i + 1))
    add_post(db, "a", now + MINUTE * 5, platform="bluesky")
    add_post(db, "a", now + MINUTE * 9)
    claimed = add_post(db, "a", now - MINUTE * 30)
    _set_status(db, [claimed], "publishing")
    _set_status(db, [add_post(db, "a", now - MINUTE) for _ in range(2)], "failed")
    _set_status(db, [add_post(db, "a", now - MINUTE)], "unknown")
    _set_status(db, [add_post(db, "a", now - MINUTE)], "published")

    counts = _queue_counts(db, now, cap=100)

    assert (counts.scheduled, counts.due, counts.failed, counts.unknown) == (5, 3, 2, 1)
    assert counts.oldest_due is not None
    assert abs(counts.oldest_due - (now - MINUTE * 30)) < timedelta(milliseconds=2)
    assert counts.next_post is not None and counts.next_post.platform == "bluesky"


def test_a_backlog_past_the_cap_counts_as_the_cap_and_the_next_post_is_still_found(
    db: Database[Doc],
) -> None:
    now = utcnow()
    for i in range(6):
        add_post(db, "a", now - MINUTE * (i + 1))
    add_post(db, "a", now + MINUTE, platform="mastodon")

    counts = _queue_counts(db, now, cap=4)

    assert (counts.scheduled, counts.due) == (4, 4)
    assert counts.next_post is not None and counts.next_post.platform == "mastodon"


def test_unknown_posts_are_counted_before_failed_ones_fill_the_attention_window(
    db: Database[Doc],
) -> None:
    now = utcnow()
    _set_status(db, [add_post(db, "a", now - MINUTE) for _ in range(5)], "failed")
    _set_status(db, [add_post(db, "a", now - MINUTE) for _ in range(2)], "unknown")

    counts = _queue_counts(db, now, cap=4)

    assert (counts.unknown, counts.failed) == (2, 2)
