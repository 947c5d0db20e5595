"""What a use case that writes posts needs from the deployment, beyond the database and the
clock: one value, made once per instance by each entry point, rather than the same three
settings threaded through every call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from common.config import Settings
from common.operations.prompt_tasks import TaskStarter, task_starter
from common.platforms.media_check import MediaUrlCheck


@dataclass(frozen=True)
class Admission:
    """How new and changed posts are let in.

    `max_lateness` (MAX_LATENESS_SECONDS): a late post older than this would expire at the next
    run, so it is refused at the door. `tasks` (DISPATCH=tasks): posts due before the next tick
    get their Cloud Task at once; None in inline dispatch. `media_urls`: media given as URLs are
    fetched and checked at the door; None where they are not (callers whose media are uploads,
    or were checked when the post was made).
    """

    max_lateness: timedelta
    tasks: TaskStarter | None = None
    media_urls: MediaUrlCheck | None = None


def deployment_admission(settings: Settings) -> Admission:
    """The deployment's own: every door (the API, the web app, the CLI on the database) lets
    posts in by the same rules. Made once per instance (the URL check keeps a connection pool)."""
    media_urls = MediaUrlCheck(allow_private=settings.private_addresses_allowed)
    return Admission(settings.max_lateness, task_starter(settings), media_urls)
