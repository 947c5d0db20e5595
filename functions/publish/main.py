"""The publish function: `publish`, the Cloud Tasks target with DISPATCH=tasks (one post per
task). The flow lives in common.entrypoints.publish_http."""

from __future__ import annotations

import gc

gc.disable()  # no collections while the modules load: serve.loaded() says why

import functions_framework
from flask import Request, Response

from common.entrypoints import publish_http, serve
from common.platforms.registry import default_registry

service = serve.ready(publish_http.lazy_service(default_registry))


@functions_framework.http
def publish(request: Request) -> Response:
    return publish_http.publish_request(request, service)
