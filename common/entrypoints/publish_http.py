"""publish: the Cloud Tasks target (DISPATCH=tasks). One task in, one post's work, and an
answer Cloud Tasks acts on: 2xx ends the task (done, or nothing left to do), 503 retries it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Request, Response

from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import get_database
from common.dispatch.work import InProgress, TaskResult, TaskWork
from common.entrypoints import web
from common.entrypoints.auth import AuthError, refusal
from common.entrypoints.instance import Lazy
from common.entrypoints.serve import serve
from common.entrypoints.task_auth import TaskTokenVerifier
from common.events import EventSink, sink_for
from common.platforms.base import Registry
from common.tasks import PostTask, TaskQueue

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024  # a task body is about 90 bytes
EVENT_FLUSH_SECONDS = 5.0


@dataclass(frozen=True)
class PublishService:
    settings: Settings
    verifier: TaskTokenVerifier
    work: TaskWork
    events: EventSink


def lazy_service(registry_factory: Callable[[Settings], Registry]) -> Lazy[PublishService]:
    def build() -> PublishService:
        settings = load_settings()
        events = sink_for(settings)
        work = TaskWork(
            get_database(settings),
            registry_factory(settings),
            settings,
            TaskQueue(settings),
            events,
            utcnow,
        )
        return PublishService(settings, TaskTokenVerifier(settings), work, events)

    return Lazy(build)


def publish_request(request: Request, service: Lazy[PublishService]) -> Response:
    return serve(request, _publish, service)


def _publish(request: Request, rid: str, service: PublishService) -> Response:
    if request.method != "POST":
        raise web.HttpError(405, "Method not allowed", {"Allow": "POST"})
    try:
        service.verifier.verify(request.headers.get("Authorization"))
    except AuthError as exc:
        raise refusal(exc) from exc
    try:
        task = PostTask.from_body(web.read_json_object(request, MAX_BODY_BYTES))
    except ValueError as exc:
        raise web.HttpError(400, str(exc)) from exc
    try:
        result = service.work.handle(task)
    finally:
        service.events.flush(EVENT_FLUSH_SECONDS)
    log.info("task handled", extra={"postId": task.post_id, "outcome": result.outcome})
    status = _status_code(result)
    headers = {"Retry-After": "5"} if status == 503 else {}
    return web.json_response({"outcome": result.outcome}, status, rid, headers=headers)


def _status_code(result: TaskResult) -> int:
    """Cloud Tasks ends a task on any 2xx and delivers it again otherwise: only a task whose
    post is not done with yet (InProgress) must come back; Done and Stale have nothing left."""
    return 503 if isinstance(result, InProgress) else 200
