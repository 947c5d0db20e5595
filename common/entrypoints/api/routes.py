"""The api's routing map: every declared operation, in the order the OpenAPI document lists
them, and werkzeug's router over their paths (404 for an unknown path, 405 with Allow)."""

from __future__ import annotations

import re

from flask import Request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, MapAdapter, RoutingException, Rule

from common.entrypoints import web
from common.entrypoints.api.shapes import accounts, admin, bulk, media, posts, review, series
from common.entrypoints.api.shapes.operation import Operation

API_OPERATIONS: tuple[Operation, ...] = (
    *posts.OPERATIONS,
    *review.OPERATIONS,
    *bulk.OPERATIONS,
    *media.OPERATIONS,
    *accounts.OPERATIONS,
    *series.OPERATIONS,
    *admin.OPERATIONS,
)
OPERATIONS = {op.operation_id: op for op in API_OPERATIONS}


class _Id(BaseConverter):
    """A path id ends at the `:` of an action (`/v1/posts/{id}:cancel`)."""

    regex = r"[^/:]+"


def _rule(operation: Operation) -> Rule:
    # OpenAPI's {id} as werkzeug's <id:id>.
    path = re.sub(r"\{(\w+)\}", r"<id:\1>", operation.path)
    return Rule(path, methods=[operation.method], endpoint=operation.operation_id)


ROUTES = Map(
    [_rule(op) for op in API_OPERATIONS],
    converters={"id": _Id},
    strict_slashes=False,
    merge_slashes=False,
)
ROUTER: MapAdapter = ROUTES.bind("api")


def route_of(request: Request) -> tuple[Operation, str]:
    """The declared operation for the request's path and method, and the path's id."""
    try:
        operation_id, args = ROUTER.match(request.path, request.method)
    except MethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        raise web.HttpError(405, "Method not allowed", {"Allow": allowed}) from exc
    except (NotFound, RoutingException) as exc:  # RoutingException: a redirect werkzeug offers
        raise web.HttpError(404, "No such resource") from exc
    return OPERATIONS[operation_id], str(args.get("id", ""))
