"""HTTP plumbing shared by the functions: JSON responses, security headers, request ids, CORS,
bounded JSON bodies and error replies that never carry internals."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Request, Response

from common import jsonfmt, logs
from common.config import Settings

REQUEST_ID_HEADER = "X-Request-ID"
NO_STORE = "no-store"
INTERNAL_ERROR = "Internal error"
MISCONFIGURED = "Service misconfigured"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_JSON_TYPES = ("application/json",)
CORS_MAX_AGE_SECONDS = 600
CORS_REQUEST_HEADERS = "Authorization, Content-Type, X-Request-ID"


class HttpError(Exception):
    """A 4xx answer with a reason the client can act on."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.details = dict(details or {})  # more fields of the answer, e.g. `problems`


def request_id(request: Request) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def json_response(
    body: Mapping[str, Any],
    status: int,
    rid: str,
    *,
    cache: str = NO_STORE,
    headers: Mapping[str, str] | None = None,
) -> Response:
    text = jsonfmt.dumps(body)
    return _response(text, "application/json", status, rid, cache=cache, headers=headers)


def html_response(
    page: str,
    status: int,
    rid: str,
    *,
    cache: str = NO_STORE,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return _response(page, "text/html", status, rid, cache=cache, headers=headers)


def wants_html(request: Request) -> bool:
    """A browser asking for a page; API clients and `*/*` get JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def _response(
    text: str,
    mimetype: str,
    status: int,
    rid: str,
    *,
    cache: str,
    headers: Mapping[str, str] | None,
) -> Response:
    response = Response(text, status=status, mimetype=mimetype)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = cache
    response.headers[REQUEST_ID_HEADER] = rid
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(
    status: int,
    message: str,
    rid: str,
    headers: Mapping[str, str] | None = None,
    details: Mapping[str, Any] | None = None,
) -> Response:
    body = {"error": message, **(details or {}), "requestId": rid}
    return json_response(body, status, rid, headers=headers)


def cors_headers(request: Request, settings: Settings, methods: Iterable[str]) -> dict[str, str]:
    """CORS headers for an allowed Origin; none for any other (the browser then blocks it)."""
    origin = request.headers.get("Origin")
    if origin is None or origin not in settings.cors_allowed_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Allow-Headers": CORS_REQUEST_HEADERS,
        "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
        "Vary": "Origin",
    }


def read_json_object(request: Request, max_bytes: int) -> dict[str, Any] | None:
    """The request's JSON object body, or None when there is no body.

    Raises HttpError 413 (too large), 415 (not JSON) or 400 (not a JSON object).
    """
    if request.content_length is not None and request.content_length > max_bytes:
        raise HttpError(413, f"Request body exceeds {max_bytes} bytes")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise HttpError(413, f"Request body exceeds {max_bytes} bytes")
    if not raw.strip():
        return None
    if request.mimetype not in _JSON_TYPES:
        raise HttpError(415, "Content-Type must be application/json")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise HttpError(400, "Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise HttpError(400, "Request body must be a JSON object")
    return body


def preflight(
    request: Request, cors: Mapping[str, str], methods: Iterable[str], rid: str
) -> Response:
    """Answer OPTIONS; a preflight from an Origin that is not allowed gets 403, no CORS headers."""
    if request.headers.get("Origin") is not None and not cors:
        raise HttpError(403, "Origin not allowed")
    response = json_response({}, 204, rid, headers={"Allow": ", ".join(methods), **cors})
    response.set_data(b"")
    return response


def trace(request: Request, project: str | None) -> tuple[str, str | None] | None:
    """The Cloud Trace context of the request, for the log lines it causes."""
    return logs.trace_from_header(request.headers.get("X-Cloud-Trace-Context"), project)
