"""The run's recurring-posts step (engine.RunStep), apart from the series use cases.

Every run takes the step and almost every run finds no series due: one indexed query says so.
Only when a series is due does the run load common.operations.series, and with it post
scheduling, the media checks and dateutil, which a cold start would otherwise pay on every tick
with nothing to do (a cold start spends its CPU on imports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.database import Database

from common.db import SERIES, Doc


@dataclass(frozen=True)
class MaterialiseWhenDue:
    """Materialise the series whose time has come (operations.series.MaterialiseDue) when
    there is one; a series due costs this step one query more than the use case alone."""

    max_lateness: timedelta

    def __call__(self, db: Database[Doc], now: datetime) -> None:
        if db[SERIES].find_one({"materialiseAt": {"$lte": now}}, {"_id": 1}) is None:
            return
        from common.operations import series

        series.MaterialiseDue(self.max_lateness)(db, now)
