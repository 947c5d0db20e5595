"""The status function's flow: GET/HEAD in, the status report out (503 without a database)."""

from __future__ import annotations

import logging
import threading

from flask import Request, Response

from common import logs, status
from common.clock import utcnow
from common.config import ConfigError, Settings, load_settings
from common.db import DatabaseUnavailableError, get_database
from common.entrypoints import status_page, web

log = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "OPTIONS")
CACHE = "public, max-age=10"
PUBLIC = {"Access-Control-Allow-Origin": "*"}


class StatusService:
    """The public, read-only status endpoint of one function instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: Settings | None = None

    def _ready(self) -> Settings:
        with self._lock:
            if self._settings is None:
                self._settings = load_settings()
            return self._settings

    def status_http(self, request: Request) -> Response:
        logs.configure()
        rid = web.request_id(request)
        project = self._settings.google_cloud_project if self._settings else None
        with logs.bound(rid, web.trace(request, project)):
            try:
                return self._status_http(request, rid)
            except web.HttpError as exc:
                return web.error_response(exc.status, exc.message, rid, exc.headers)
            except ConfigError as exc:
                log.critical("configuration invalid", extra={"reason": str(exc)})
                return web.error_response(500, web.MISCONFIGURED, rid)
            except Exception:
                log.exception("status failed")
                return web.error_response(500, web.INTERNAL_ERROR, rid)

    def _status_http(self, request: Request, rid: str) -> Response:
        settings = self._ready()
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
            return web.html_response(
                status_page.render(body), code, rid, cache=cache, headers=headers
            )
        return web.json_response(body, code, rid, cache=cache, headers=headers)
