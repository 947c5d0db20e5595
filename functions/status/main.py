"""The status function: `status`, public and read-only. The flow lives in
common.entrypoints.status_http."""

from __future__ import annotations

import gc

gc.disable()  # no collections while the modules load: serve.loaded() says why

import functions_framework
from flask import Request, Response

from common.entrypoints import serve, status_http

service = serve.ready(status_http.lazy_service())


@functions_framework.http
def status(request: Request) -> Response:
    return status_http.status_request(request, service)
