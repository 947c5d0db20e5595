"""The api function: `api`, the authenticated JSON API under /v1. The flow lives in
common.entrypoints.api."""

from __future__ import annotations

import gc

gc.disable()  # no collections while the modules load: serve.loaded() says why

import functions_framework
from flask import Request, Response

from common.entrypoints import serve
from common.entrypoints.api import app, call

service = serve.ready(app.lazy_service(), call.MAX_BODY_BYTES)


@functions_framework.http
def api(request: Request) -> Response:
    return app.api_request(request, service)
