"""status: GET/HEAD in, the status report out as JSON or a page (503 without a database).

Anyone may call it, so a flood of requests must not become database load: each instance
computes the report at most once per STATUS_CACHE_SECONDS (the `max-age` it announces) and
answers everything else in that window from memory, with an `Age` header.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Request, Response

from common import status
from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import DatabaseUnavailableError, get_database
from common.entrypoints import status_page, web
from common.entrypoints.instance import Lazy
from common.entrypoints.serve import serve
from common.status import StatusReport

log = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "OPTIONS")
PUBLIC = {"Access-Control-Allow-Origin": "*"}


@dataclass(frozen=True)
class Computed:
    report: StatusReport
    code: int
    at: float  # monotonic seconds


class ReportCache:
    """The last report of this instance, recomputed once it is `seconds` old.

    Requests that arrive while one computes wait for its answer instead of starting their own,
    so a burst costs one report per window whatever its size. A 503 is kept for the window
    too: a flood during a database outage must not pile up connection attempts.
    """

    def __init__(
        self,
        seconds: float,
        compute: Callable[[], tuple[StatusReport, int]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seconds = seconds
        self._compute = compute
        self._clock = clock
        self._guard = threading.Lock()
        self._last: Computed | None = None

    def get(self) -> tuple[Computed, float]:
        """The report and its age in seconds."""
        with self._guard:
            last = self._last
            if last is None or self._clock() - last.at >= self._seconds:
                report, code = self._compute()
                last = self._last = Computed(report, code, self._clock())
            return last, self._clock() - last.at


class StatusService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ReportCache(settings.status_cache_seconds, self._compute)

    def _compute(self) -> tuple[StatusReport, int]:
        settings = self.settings
        try:
            return status.report(settings, get_database(settings), utcnow()), 200
        except DatabaseUnavailableError as exc:
            log.error("database unavailable", extra={"reason": str(exc)})
            return status.unavailable_report(settings), 503


def lazy_service() -> Lazy[StatusService]:
    return Lazy(lambda: StatusService(load_settings()))


def status_request(request: Request, service: Lazy[StatusService]) -> Response:
    return serve(request, _status, service)


def _status(request: Request, rid: str, service: StatusService) -> Response:
    if request.method == "OPTIONS":
        cors = {**PUBLIC, "Access-Control-Allow-Methods": "GET, HEAD"}
        return web.preflight(request, cors, METHODS, rid)
    if request.method not in ("GET", "HEAD"):
        raise web.HttpError(405, "Method not allowed", {"Allow": ", ".join(METHODS)})
    computed, age = service.cache.get()
    body, code = computed.report, computed.code
    # The same URL answers JSON or a page, so caches must key on Accept.
    headers = {**PUBLIC, "Vary": "Accept"}
    if code == 200:
        cache = f"public, max-age={service.settings.status_cache_seconds}"
        headers["Age"] = str(int(age))
    else:
        cache = web.NO_STORE
    if web.wants_html(request):
        headers["Content-Security-Policy"] = status_page.CONTENT_SECURITY_POLICY
        return web.html_response(status_page.render(body), code, rid, cache=cache, headers=headers)
    return web.json_response(body.to_dict(), code, rid, cache=cache, headers=headers)
