"""DISPATCH=tasks: the tick loads Cloud Tasks (`loading`); the publish function does one task's
post (`work`). Both import the Cloud Tasks client, so this package's own module stays light:
an inline install only reads `for_settings` and never loads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.config import Settings

if TYPE_CHECKING:
    from common.dispatch.loading import TaskLoading


def for_settings(settings: Settings) -> TaskLoading | None:
    """The dispatch strategy a run takes (common.engine.Dispatch): None for DISPATCH=inline
    (the engine claims every due post itself), task loading with the settings' queue for tasks."""
    if settings.dispatch != "tasks":
        return None
    # Lazy: the Cloud Tasks client is imported by tasks installs only (cold start).
    from common.dispatch.loading import TaskLoading  # noqa: PLC0415
    from common.tasks import TaskQueue  # noqa: PLC0415

    return TaskLoading(TaskQueue(settings), settings)
