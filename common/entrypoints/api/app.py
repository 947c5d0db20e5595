"""The api function's flow: authenticate the caller, check the route's scope, hand the request
to its resource's handler."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Request, Response

from common.clock import utcnow
from common.config import load_settings
from common.db import ensure_indexes
from common.entrypoints import auth, web
from common.entrypoints.api import accounts, admin, bulk, media, posts, review, series
from common.entrypoints.api.call import ApiService, Call, RouteHandler
from common.entrypoints.api.routes import route_of
from common.entrypoints.auth import Caller
from common.entrypoints.instance import Lazy
from common.entrypoints.serve import serve


def lazy_service() -> Lazy[ApiService]:
    def build() -> ApiService:
        service = ApiService(load_settings())
        ensure_indexes(service.db)  # once per instance: the unique and TTL indexes it relies on
        return service

    return Lazy(build)


def api_request(request: Request, service: Lazy[ApiService]) -> Response:
    return serve(request, _route, service)


def _route(request: Request, rid: str, service: ApiService) -> Response:
    operation, path_id = route_of(request)
    call = Call(request, rid, service, _caller(request, service), utcnow(), path_id)
    refused = call.caller.refusal_for(operation.scope)
    if refused is not None:
        raise web.HttpError(403, refused)
    return HANDLERS[operation.operation_id](call)


def _caller(request: Request, service: ApiService) -> Caller:
    try:
        return auth.authenticate_caller(
            request.headers.get("Authorization"), service.settings, service.db, utcnow()
        )
    except (auth.AuthError, auth.RateLimitedError) as exc:
        raise auth.refusal(exc) from exc


HANDLERS: Mapping[str, RouteHandler] = {
    **posts.HANDLERS,
    **review.HANDLERS,
    **bulk.HANDLERS,
    **media.HANDLERS,
    **accounts.HANDLERS,
    **series.HANDLERS,
    **admin.HANDLERS,
}
