"""The run's recurring-posts step (engine.RunStep), apart from the series use cases.

Every run takes the step and almost every run finds no series due: one indexed query says so.
Only when a series is due does the run load common.operations.series_materialise, and with it
post scheduling, the media checks and dateutil, which a cold start would otherwise pay on every
tick with nothing to do (a cold start spends its CPU on imports)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.database import Database

from common.db import SERIES, Doc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MaterialiseDue:
    """Finish pending splits, then materialise the series whose time has come
    (series_materialise.materialise_due); one indexed query when none has, and one query
    more than the use case alone when one has."""

    max_lateness: timedelta

    def __call__(self, db: Database[Doc], now: datetime) -> None:
        if db[SERIES].find_one({"materialiseAt": {"$lte": now}}, {"_id": 1}) is None:
            return
        from common.operations import series_materialise as materialising

        done = materialising.materialise_due(db, now, max_lateness=self.max_lateness)
        if done != materialising.NOTHING:
            log.info(
                "series materialised",
                extra={"made": done.made, "repeated": done.repeated, "skipped": done.skipped},
            )
