"""DISPATCH=tasks: a post created or edited with a due time before the next tick gets its
Cloud Task at once (common.dispatch.loading.PromptTasks), from every door: the API, the CLI
and the web app.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bson import ObjectId
from pymongo.database import Database

from common.config import Settings
from common.db import Doc


class TaskStarter(Protocol):
    def post_written(
        self, db: Database[Doc], post_id: ObjectId, due_at: datetime, now: datetime
    ) -> None: ...

    def posts_written(
        self, db: Database[Doc], written: Sequence[tuple[ObjectId, datetime]], now: datetime
    ) -> None:
        """Many posts at once (a batch, an import): the same few commands as one."""
        ...


def task_starter(settings: Settings) -> TaskStarter | None:
    """The starter for DISPATCH=tasks; None inline (the run publishes what is due)."""
    if settings.dispatch != "tasks":
        return None
    # Imported here: the Cloud Tasks client costs cold-start time that inline installs, and
    # every request that schedules nothing soon, should not pay (bench/coldstart.py).
    from common.dispatch.loading import PromptTasks  # noqa: PLC0415
    from common.tasks import TaskQueue  # noqa: PLC0415

    return PromptTasks(TaskQueue(settings), settings)
