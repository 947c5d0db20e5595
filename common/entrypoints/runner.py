"""The run function's per-instance service, shared by its two ways in (a tick, a manual run):
settings, the publisher registry and the event sink, and one run with its events flushed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pymongo.errors import PyMongoError

from common import dispatch
from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import DatabaseUnavailableError, Doc, describe_failure, get_database
from common.engine import Dispatch, RunStep, Trigger, execute_once
from common.entrypoints.instance import Lazy
from common.events import EventSink, sink_for
from common.operations.series_due import MaterialiseDue
from common.platforms.base import Registry
from common.run_summary import RunSummary

EVENT_FLUSH_SECONDS = 5.0
RegistryFactory = Callable[[Settings], Registry]


@dataclass(frozen=True)
class RunService:
    settings: Settings
    registry: Registry
    events: EventSink
    dispatch: Dispatch | None = None  # DISPATCH=tasks: one Cloud Tasks client per instance
    steps: tuple[RunStep, ...] = ()


def run_steps(settings: Settings) -> tuple[RunStep, ...]:
    """What every run does before it claims: recurring posts' next occurrences become posts."""
    return (MaterialiseDue(settings.max_lateness),)


def lazy_service(registry_factory: RegistryFactory) -> Lazy[RunService]:
    """The service, built on the first tick or manual run of the instance."""

    def build() -> RunService:
        settings = load_settings()
        strategy = dispatch.for_settings(settings)
        registry, events = registry_factory(settings), sink_for(settings)
        return RunService(settings, registry, events, strategy, run_steps(settings))

    return Lazy(build)


def execute(service: RunService, trigger: Trigger) -> RunSummary:
    """One run; its events leave before the function answers (the instance may then freeze)."""
    try:
        return execute_once(
            service.settings,
            trigger,
            service.registry,
            events=service.events,
            dispatch=service.dispatch,
            steps=service.steps,
        )
    finally:
        service.events.flush(EVENT_FLUSH_SECONDS)


def sweep_media(service: RunService) -> Doc | None:
    """One bounded media sweep (common.operations.media.sweep), or None without a bucket.
    Raises DatabaseUnavailableError when MongoDB cannot be reached."""
    # Imported here: a tick never sweeps, and google-cloud-storage and Pillow are slow to import.
    from common.operations import media  # noqa: PLC0415
    from common.storage import MediaBucket, storage_config  # noqa: PLC0415

    config = storage_config(service.settings)
    if config is None:
        return None
    try:
        db = get_database(service.settings)
        report = media.sweep_as_configured(db, MediaBucket(config), service.settings, utcnow())
    except PyMongoError as exc:
        raise DatabaseUnavailableError(describe_failure(exc)) from exc
    return report.to_json()
