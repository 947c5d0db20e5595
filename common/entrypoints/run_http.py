"""The run function's flows: a Pub/Sub tick or an authenticated manual run in, a run out.

Settings, the publisher registry and the event sink are built on the first invocation and kept
for the instance's life (Cloud Functions reuses warm instances).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Request, Response

from common import logs
from common.config import ConfigError, Settings, load_settings
from common.db import DatabaseUnavailableError
from common.engine import Trigger, execute_once
from common.entrypoints import auth, ticks, web
from common.events import EventSink, sink_for
from common.platforms.base import Registry
from common.run_summary import RunSummary

log = logging.getLogger(__name__)

METHODS = ("OPTIONS", "POST")
MAX_BODY_BYTES = 4096
MAX_LIMIT = 10_000
EVENT_FLUSH_SECONDS = 5.0
RegistryFactory = Callable[[Settings], Registry]


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    limit: int | None = None


def parse_run_options(body: Mapping[str, Any] | None) -> RunOptions:
    """`{"dryRun": bool, "limit": int}`, both optional; anything else is a 400."""
    if body is None:
        return RunOptions()
    unknown = sorted(set(body) - {"dryRun", "limit"})
    if unknown:
        raise web.HttpError(400, f"Unknown field(s): {', '.join(unknown)}"[:120])
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise web.HttpError(400, "dryRun must be a boolean")
    limit = body.get("limit")
    if "limit" in body and not (
        isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_LIMIT
    ):
        raise web.HttpError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return RunOptions(dry_run=dry_run, limit=limit)


@dataclass(frozen=True)
class _Instance:
    settings: Settings
    registry: Registry
    events: EventSink


class RunService:
    """on_tick and run_http of one function instance."""

    def __init__(self, registry_factory: RegistryFactory) -> None:
        self._registry_factory = registry_factory
        self._lock = threading.Lock()
        self._instance: _Instance | None = None

    def _ready(self) -> _Instance:
        with self._lock:
            if self._instance is None:
                settings = load_settings()
                self._instance = _Instance(
                    settings, self._registry_factory(settings), sink_for(settings)
                )
            return self._instance

    def _execute(self, instance: _Instance, trigger: Trigger) -> RunSummary:
        try:
            return execute_once(
                instance.settings, trigger, instance.registry, events=instance.events
            )
        finally:
            instance.events.flush(EVENT_FLUSH_SECONDS)

    # --- Pub/Sub ticks ----------------------------------------------------------------------

    def on_tick(self, attributes: Mapping[str, Any], data: Any) -> None:
        """Returns (ack) on input no redelivery can fix; raises when the database is away."""
        logs.configure()
        try:
            trigger = ticks.trigger_from_event(attributes, data)
        except ticks.MalformedTickError as exc:
            log.error("malformed tick acknowledged", extra={"reason": str(exc)})
            return
        with logs.bound(trigger.message_id):
            try:
                instance = self._ready()
            except ConfigError as exc:
                log.critical("configuration invalid; tick dropped", extra={"reason": str(exc)})
                return
            try:
                result = self._execute(instance, trigger)
            except DatabaseUnavailableError as exc:
                # Pub/Sub redelivers; the staleness rule ends the retries of an old tick.
                log.error("database unavailable; tick not run", extra={"reason": str(exc)})
                # Re-raised without its cause: the framework logs the chain, and the driver's
                # error names database hosts.
                raise DatabaseUnavailableError(str(exc)) from None
            log.info("tick handled", extra=result.to_response())

    # --- manual runs ------------------------------------------------------------------------

    def run_http(self, request: Request) -> Response:
        logs.configure()
        rid = web.request_id(request)
        project = self._instance.settings.google_cloud_project if self._instance else None
        with logs.bound(rid, web.trace(request, project)):
            try:
                return self._run_http(request, rid)
            except web.HttpError as exc:
                return web.error_response(exc.status, exc.message, rid, exc.headers)
            except ConfigError as exc:
                log.critical("configuration invalid", extra={"reason": str(exc)})
                return web.error_response(500, web.MISCONFIGURED, rid)
            except DatabaseUnavailableError as exc:
                log.error("database unavailable", extra={"reason": str(exc)})
                return web.error_response(503, "Database unavailable", rid)
            except Exception:
                log.exception("manual run failed")
                return web.error_response(500, web.INTERNAL_ERROR, rid)

    def _run_http(self, request: Request, rid: str) -> Response:
        instance = self._ready()
        cors = web.cors_headers(request, instance.settings, METHODS)
        if request.method == "OPTIONS":
            return web.preflight(request, cors, METHODS, rid)
        if request.method != "POST":
            raise web.HttpError(405, "Method not allowed", {"Allow": ", ".join(METHODS), **cors})
        try:
            principal = auth.authenticate(request.headers.get("Authorization"), instance.settings)
        except auth.AuthError as exc:
            challenge = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
            raise web.HttpError(exc.status, exc.message, {**challenge, **cors}) from exc
        options = parse_run_options(web.read_json_object(request, MAX_BODY_BYTES))
        log.info("manual run", extra={"auth": principal.method, "dryRun": options.dry_run})
        trigger = Trigger("manual", limit=options.limit, dry_run=options.dry_run)
        result = self._execute(instance, trigger)
        body = {"success": True, "result": result.to_response()}
        return web.json_response(body, 200, rid, headers=cors)
