"""The api function: `api`, the authenticated JSON API under /v1. The flow lives in
common.entrypoints.api_http."""

from __future__ import annotations

import gc

gc.disable()  # no collections while the modules load: serve.loaded() says why

import functions_framework
from flask import Request, Response

from common.entrypoints import api_http, serve

serve.guard_function_app(api_http.MAX_BODY_BYTES)
service = api_http.lazy_service()
serve.loaded()


@functions_framework.http
def api(request: Request) -> Response:
    return api_http.api_request(request, service)
