"""Posts finished per hour, counted by the outcome writes themselves (a run's, once at its end;
a Cloud Task's, marked on its post and counted by the next tick: common.dispatch.loading).

The status report's history and on-time rate read at most 24 small documents instead of
scanning the posts of the last day (there is no index on `publishedAt` alone, and a query over
every post finished in a day grows with the traffic). Each hour's document expires a day after
its hour ended (a TTL index, see db.INDEXES), so the collection never holds more than ~25.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import UpdateOne
from pymongo.database import Database

from common.db import HOURLY_STATS, Doc

HISTORY_HOURS = 24
ON_TIME_SECONDS = 120
# An hour's counts are read for 24 hours after the hour began; one spare hour covers clocks.
_KEPT_AFTER_HOUR_STARTS = timedelta(hours=HISTORY_HOURS + 1)


@dataclass(frozen=True)
class LastDay:
    """Posts finished in each of the last 24 hours, oldest hour first, and how many of the
    published ones went out within ON_TIME_SECONDS of their scheduled time."""

    published: tuple[int, ...]
    failed: tuple[int, ...]
    published_on_time: int

    @property
    def on_time_rate(self) -> float | None:
        finished = sum(self.published) + sum(self.failed)
        return round(self.published_on_time / finished, 4) if finished else None


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


class FinishedTally:
    """Posts finished by one claimer, counted in memory and written in one command.

    A run publishing hundreds of posts writes its hourly figures once, at its end (like its
    totals in scheduler_state), instead of once per post.
    """

    def __init__(self) -> None:
        self._by_hour: dict[datetime, Counter[str]] = {}
        self._guard = threading.Lock()

    def published(self, scheduled_at: datetime, published_at: datetime) -> None:
        on_time = (published_at - scheduled_at).total_seconds() <= ON_TIME_SECONDS
        self._add(published_at, {"published": 1, "publishedOnTime": int(on_time)})

    def failed(self, failed_at: datetime) -> None:
        self._add(failed_at, {"failed": 1})

    def _add(self, at: datetime, counts: dict[str, int]) -> None:
        with self._guard:
            self._by_hour.setdefault(hour_of(at), Counter()).update(counts)

    def write(self, db: Database[Doc]) -> Counter[str]:
        """One bulk upsert of every hour counted so far (none when nothing finished); returns
        what it wrote, summed over the hours."""
        with self._guard:
            by_hour, self._by_hour = self._by_hour, {}
        written: Counter[str] = sum(by_hour.values(), Counter())
        if not by_hour:
            return written
        db[HOURLY_STATS].bulk_write(
            [
                UpdateOne(
                    {"_id": hour},
                    {
                        "$inc": dict(counts),
                        "$setOnInsert": {"expiresAt": hour + _KEPT_AFTER_HOUR_STARTS},
                    },
                    upsert=True,
                )
                for hour, counts in sorted(by_hour.items())
            ],
            ordered=False,
        )
        return written


def count_published(db: Database[Doc], scheduled_at: datetime, published_at: datetime) -> None:
    tally = FinishedTally()
    tally.published(scheduled_at, published_at)
    tally.write(db)


def count_failed(db: Database[Doc], failed_at: datetime) -> None:
    tally = FinishedTally()
    tally.failed(failed_at)
    tally.write(db)


def hours_read(now: datetime) -> list[Doc]:
    """The aggregation pipeline of the last day's hours: one range on `_id` (the hour), at
    most 24 documents. The status report runs it inside its one command (status.report)."""
    this_hour = hour_of(now)
    first_hour = this_hour - timedelta(hours=HISTORY_HOURS - 1)
    return [{"$match": {"_id": {"$gte": first_hour, "$lte": this_hour}}}]


def last_day_of(rows: Iterable[Doc], now: datetime) -> LastDay:
    """The figures from the rows hours_read(now) found."""
    first_hour = hour_of(now) - timedelta(hours=HISTORY_HOURS - 1)
    published, failed = [0] * HISTORY_HOURS, [0] * HISTORY_HOURS
    on_time = 0
    for row in rows:
        slot = int((row["_id"] - first_hour).total_seconds() // 3600)
        published[slot] += int(row.get("published", 0))
        failed[slot] += int(row.get("failed", 0))
        on_time += int(row.get("publishedOnTime", 0))
    return LastDay(tuple(published), tuple(failed), on_time)
