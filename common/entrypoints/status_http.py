"""status: GET/HEAD in, the status report out as JSON or a page (503 without a database)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Request, Response

from common import status
from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import DatabaseUnavailableError, get_database
from common.entrypoints import status_page, web
from common.entrypoints.serve import Lazy, serve

log = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "OPTIONS")
CACHE = "public, max-age=10"
PUBLIC = {"Access-Control-Allow-Origin": "*"}


@dataclass(frozen=True)
class StatusService:
    settings: Settings


def lazy_service() -> Lazy[StatusService]:
    return Lazy(lambda: StatusService(load_settings()))


def status_request(request: Request, service: Lazy[StatusService]) -> Response:
    return serve(request, _status, service)


def _status(request: Request, rid: str, service: StatusService) -> Response:
    settings = service.settings
    if request.method == "OPTIONS":
        cors = {**PUBLIC, "Access-Control-Allow-Methods": "GET, HEAD"}
        return web.preflight(request, cors, METHODS, rid)
    if request.method not in ("GET", "HEAD"):
        raise web.HttpError(405, "Method not allowed", {"Allow": ", ".join(METHODS)})
    try:
        body, code, cache = (
            status.report(settings, get_database(settings), utcnow()),
            200,
            CACHE,
        )
    except DatabaseUnavailableError as exc:
        log.error("database unavailable", extra={"reason": str(exc)})
        body, code, cache = status.unavailable_report(settings), 503, web.NO_STORE
    # The same URL answers JSON or a page, so caches must key on Accept.
    headers = {**PUBLIC, "Vary": "Accept"}
    if web.wants_html(request):
        headers["Content-Security-Policy"] = status_page.CONTENT_SECURITY_POLICY
        return web.html_response(status_page.render(body), code, rid, cache=cache, headers=headers)
    return web.json_response(body.to_dict(), code, rid, cache=cache, headers=headers)
