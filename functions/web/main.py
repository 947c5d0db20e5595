"""The web function: `web`, the app for the people who plan posts. The flow lives in
common.entrypoints.webapp.app."""

from __future__ import annotations

import gc

gc.disable()  # no collections while the modules load: serve.loaded() says why

import functions_framework
from flask import Request, Response

from common.entrypoints import serve
from common.entrypoints.webapp import app

service = serve.ready(app.lazy_service(), app.MAX_BODY_BYTES)


@functions_framework.http
def web(request: Request) -> Response:
    return app.web_request(request, service)
