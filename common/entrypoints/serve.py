"""What every function does around its handler: logging, request ids, the per-instance service,
one map from exceptions to answers, and a body cap with JSON refusals for the requests that
functions-framework turns away before our code runs."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

import flask
import functions_framework
from cloudevents.http import from_http
from flask import Request, Response
from functions_framework import event_conversion
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from common import logs
from common.config import ConfigError
from common.db import DatabaseUnavailableError
from common.entrypoints import web
from common.entrypoints.instance import Lazy, S

log = logging.getLogger(__name__)

# A tick is about 500 bytes and the HTTP functions take at most a few hundred: anything larger
# is refused by Werkzeug before it is read, so no body can grow the process.
MAX_REQUEST_BYTES = 64 * 1024
NOT_A_CLOUD_EVENT = "Request is not a valid CloudEvent"


Handler = Callable[[Request, str, S], Response]


def serve(request: Request, handler: Handler[S], service: Lazy[S]) -> Response:
    """Run `handler` with the request id and trace bound to its log lines; every failure becomes
    a JSON answer that never carries internals."""
    logs.configure()
    rid = web.request_id(request)
    if request.content_length is not None and request.content_length > _body_cap():
        return _streamed(web.error_response(413, _refusal(RequestEntityTooLarge()), rid))
    with logs.bound(rid, web.trace(request, _project(service))):
        try:
            return handler(request, rid, service.get())
        except Exception as exc:  # the one place where every failure becomes an answer
            return failure_response(exc, rid)


def _streamed(response: Response) -> Response:
    """functions-framework reads the whole body after every answer that is not streamed, and
    that read fails (a 500) on a body over the cap: this answer is streamed, the body unread."""
    response.response = iter([response.get_data()])
    return response


def _project(service: Lazy[S]) -> str | None:
    # Before the first build the project is unknown; the trace then carries only its id.
    built = service.built()
    return built.settings.google_cloud_project if built else None


def failure_response(exc: Exception, rid: str) -> Response:
    """The single exception -> response map of the HTTP functions."""
    if isinstance(exc, web.HttpError):
        return web.error_response(exc.status, exc.message, rid, exc.headers, exc.details)
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        return web.error_response(exc.code, _refusal(exc), rid)
    if isinstance(exc, ConfigError):
        log.critical("configuration invalid", extra={"reason": str(exc)})
        return web.error_response(500, web.MISCONFIGURED, rid)
    if isinstance(exc, DatabaseUnavailableError):
        log.error("database unavailable", extra={"reason": str(exc)})
        return web.error_response(503, "Database unavailable", rid)
    log.exception("request failed")
    return web.error_response(500, web.INTERNAL_ERROR, rid)


def _refusal(exc: HTTPException) -> str:
    # Werkzeug's descriptions are HTML prose, and functions-framework's 400 quotes the request's
    # headers and body: answer with the status name only.
    if isinstance(exc, RequestEntityTooLarge):
        limit = (
            flask.current_app.config.get("MAX_CONTENT_LENGTH") if flask.has_app_context() else None
        )
        return f"Request body exceeds {limit or MAX_REQUEST_BYTES} bytes"
    return exc.name


def _body_cap() -> int:
    """The cap guard_function_app set on this app (the api function's is larger)."""
    if not flask.has_app_context():
        return MAX_REQUEST_BYTES
    return int(flask.current_app.config.get("MAX_CONTENT_LENGTH") or MAX_REQUEST_BYTES)


def ready(service: Lazy[S], max_bytes: int = MAX_REQUEST_BYTES) -> Lazy[S]:
    """The last step of every main.py's imports: guard the app (guard_function_app), collect
    garbage again (loaded), and give back the function's service."""
    guard_function_app(max_bytes)
    loaded()
    return service


def loaded() -> None:
    """Collect garbage again, now that main.py's imports are done (main.py pauses it first).

    Loading the modules creates hundreds of thousands of objects that live as long as the
    instance; left on, the collector walks them all several times during a cold start (about a
    quarter of the run function's import CPU time, measured by bench/coldstart.py). Frozen, they
    are left out of every later collection too."""
    gc.freeze()
    gc.enable()


def guard_function_app(max_bytes: int = MAX_REQUEST_BYTES) -> None:
    """Cap the body and answer refused requests with JSON, on the app functions-framework builds.

    functions-framework executes main.py inside its app's context and points the documented
    `functions_framework.errorhandler` at that app; a main.py imported on its own (the archive
    test) has neither, and then there is nothing to guard.
    """
    if not flask.has_app_context():
        return
    flask.current_app.config["MAX_CONTENT_LENGTH"] = max_bytes
    # A 500 keeps functions-framework's own handler: Flask prefers the status code's handler.
    functions_framework.errorhandler(HTTPException)(_refused)
    functions_framework.errorhandler(Exception)(_malformed_event)


def _refused(exc: HTTPException) -> Response:
    code = exc.code if exc.code is not None else 500
    # Outside a handler, functions-framework's one 400 is its "not a CloudEvent" abort.
    return _answer_outside_handler(code, NOT_A_CLOUD_EVENT if code == 400 else _refusal(exc))


def _malformed_event(exc: Exception) -> Response:
    """A body functions-framework cannot read as a CloudEvent (not UTF-8, not JSON, fields
    missing) raises inside the framework (UnicodeDecodeError, TypeError, ...) before the
    function is called: a 400. Any exception raised by the function itself is a failure of
    ours, re-raised to keep the framework's logged 500, on which Pub/Sub redelivers."""
    if _reads_as_cloud_event(flask.request):
        raise exc
    return _answer_outside_handler(400, NOT_A_CLOUD_EVENT)


def _reads_as_cloud_event(request: Request) -> bool:
    # The two readings functions-framework tries, in its order: a CloudEvent, then a legacy
    # event (a bare Pub/Sub push body) converted to one. Any failure means it is not one.
    try:
        from_http(dict(request.headers), request.get_data())
    except Exception:
        try:
            event_conversion.background_event_to_cloud_event(request)
        except Exception:
            return False
    return True


def _answer_outside_handler(status: int, message: str) -> Response:
    logs.configure()
    rid = web.request_id(flask.request)
    with logs.bound(rid):
        log.warning("request refused", extra={"status": status, "reason": message})
    return web.error_response(status, message, rid)
