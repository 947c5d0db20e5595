"""The run function: `on_tick` (Pub/Sub tick via Eventarc) and `run_http` (manual run).

Thin by design: the framework owns the transport and common.entrypoints owns the flow.
"""

from __future__ import annotations

import gc

gc.disable()  # no collections while the modules load: serve.loaded() says why

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request, Response

from common.entrypoints import runner, serve
from common.entrypoints.tick import receive_tick
from common.platforms.registry import default_registry

service = serve.ready(runner.lazy_service(default_registry))


@functions_framework.cloud_event
def on_tick(event: CloudEvent) -> None:
    receive_tick(event.get_attributes(), event.data, service)


@functions_framework.http
def run_http(request: Request) -> Response:
    # Loaded on the first manual run: this source is deployed twice (run_tick, run_http), and
    # the tick's instances need none of the callers' authentication (JWTs, API keys).
    from common.entrypoints.run_http import manual_run

    return manual_run(request, service)
