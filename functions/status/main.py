"""The status function: `status`, public and read-only. The flow lives in common.handlers."""

from __future__ import annotations

import functions_framework
from flask import Request, Response

from common.entrypoints.status_http import StatusService

service = StatusService()


@functions_framework.http
def status(request: Request) -> Response:
    return service.status_http(request)
