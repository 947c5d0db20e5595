"""The OpenAPI document of the HTTP functions, built from the declarations in
common.entrypoints.api.shapes (the committed docs/openapi.yaml is this document; `make openapi`
writes it)."""

from __future__ import annotations

from typing import Any

from common.entrypoints.api import routes
from common.entrypoints.api.shapes.errors import ApiError, Error
from common.entrypoints.api.shapes.functions import RunRequest, RunResponse, Status
from common.entrypoints.api.shapes.operation import POST_ID, Answer, Operation, Param
from common.schema import Json
from common.schema_doc import components, ref

INFO = {
    "title": "Serverless Social Scheduler",
    "version": "0.1.0",
    "description": "The HTTP functions. `run_http` starts one execution of the scheduler on "
    "demand (admins only); `status` reports the scheduler's state to anyone; `api` manages "
    "posts and accounts under `/v1` for API keys with scopes and admin JWTs. Each function is "
    "deployed on its own URL; `run_http` and `status` answer on any path (the paths below name "
    "them), `api` on the `/v1` paths.",
}
SERVERS = [
    {
        "url": "https://{region}-{project}.cloudfunctions.net",
        "variables": {"region": {"default": "europe-west1"}, "project": {"default": "my-project"}},
    }
]
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": 'An HS256 JWT with `exp` and an admin role (`role: "admin"`, `roles` '
    'containing `"admin"`, or `isAdmin: true`), checked against JWT_AUDIENCE / JWT_ISSUER when '
    "set; or the admin key (ADMIN_SECRET_KEY, at least 32 characters). The api function also "
    "takes API keys (`sk_<id>_<secret>`, made by `socialsched keys create`) with scopes "
    "`posts:read`, `posts:write`, `posts:approve`, `accounts:write` or `admin`, optionally "
    "limited to accounts.",
}
REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Echoed back when it matches `[A-Za-z0-9._:-]{1,128}`; otherwise one is "
    "generated.",
    "schema": {"type": "string"},
}
# What every api route may answer besides its own refusals.
API_REFUSALS = (400, 403, 404, 405, 413, 415, 500, 503)
RUN_REFUSALS = (400, 403, 405, 413, 415, 500, 503)


def document() -> Json:
    paths: dict[str, Json] = {"/run": {"post": _run()}, "/status": {"get": _status()}}
    for op in routes.API_OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    shapes = [
        ApiError,
        Error,
        RunRequest,
        RunResponse,
        Status,
    ]
    for op in routes.API_OPERATIONS:
        shapes += [*op.body, *(t for a in op.answers for t in a.shape)]
    return {
        "openapi": "3.0.3",
        "info": INFO,
        "servers": SERVERS,
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": BEARER},
            "parameters": {"RequestId": REQUEST_ID},
            "responses": _shared_responses(),
            "schemas": components(shapes),
        },
    }


def _operation(op: Operation) -> Json:
    if op.scope == "admin":
        scope = "Needs the `admin` scope."
    else:
        scope = f"Needs the `{op.scope}` scope (or `admin`)."
    operation: Json = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": scope + (f" {op.description}" if op.description else ""),
        "security": [{"bearer": []}],
        "parameters": [_param_ref("RequestId"), *(_param(p) for p in _params(op))],
    }
    if op.body:
        body = {"content": {"application/json": {"schema": _one_of(op.body)}}}
        operation["requestBody"] = {"required": op.body_required, **body}
    responses: Json = {str(a.status): _answer(a) for a in op.answers}
    for status in sorted({*API_REFUSALS, *op.refusals}):
        responses[str(status)] = _response_ref("ApiError")
    responses["401"] = _response_ref("Unauthenticated")
    responses["429"] = _response_ref("RateLimited")
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _params(op: Operation) -> tuple[Param, ...]:
    path = (POST_ID,) if "{id}" in op.path else ()
    return (*path, *op.params)


def _param(p: Param) -> Json:
    param: Json = {"name": p.name, "in": p.where, "required": p.required or p.where == "path"}
    if p.description:
        param["description"] = p.description
    param["schema"] = dict(p.schema)
    return param


def _answer(a: Answer) -> Json:
    answer: Json = {"description": a.description}
    if a.headers:
        answer["headers"] = {name: dict(h) for name, h in a.headers.items()}
    answer["content"] = {"application/json": {"schema": _one_of(a.shape)}}
    return answer


def _one_of(shapes: tuple[type, ...]) -> Json:
    return ref(shapes[0]) if len(shapes) == 1 else {"oneOf": [ref(t) for t in shapes]}


def _param_ref(name: str) -> Json:
    return {"$ref": f"#/components/parameters/{name}"}


def _response_ref(name: str) -> Json:
    return {"$ref": f"#/components/responses/{name}"}


def _json(shape: type) -> Json:
    return {"application/json": {"schema": ref(shape)}}


def _shared_responses() -> Json:
    bearer_challenge = {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["Bearer"]}}}
    return {
        "Error": {"description": "An error with a reason.", "content": _json(Error)},
        "ApiError": {
            "description": "An error with a reason (and, for bad input, every problem by item "
            "index).",
            "content": _json(ApiError),
        },
        "Unauthenticated": {
            "description": "Missing, unknown, revoked or malformed credential.",
            "headers": bearer_challenge,
            "content": _json(ApiError),
        },
        "RateLimited": {
            "description": "The key spent this minute's requests (API_RATE_LIMIT_PER_MINUTE).",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            "content": _json(ApiError),
        },
    }


def _run() -> Json:
    responses: Json = {
        "200": {
            "description": "The run's result; `skipped` is true when another run holds the lock.",
            "headers": {
                "X-Request-ID": {"schema": {"type": "string"}},
                "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}},
            },
            "content": _json(RunResponse),
        },
        "401": {
            "description": "Missing or invalid Authorization header",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["Bearer"]}}},
            "content": _json(Error),
        },
    }
    responses.update({str(code): _response_ref("Error") for code in RUN_REFUSALS})
    return {
        "operationId": "run_http",
        "summary": "Run the scheduler once (manual run)",
        "security": [{"bearer": []}],
        "parameters": [_param_ref("RequestId")],
        "requestBody": {"required": False, "content": _json(RunRequest)},
        "responses": dict(sorted(responses.items())),
    }


def _status() -> Json:
    cache: Any = {
        "description": "max-age is STATUS_CACHE_SECONDS (default 10); each instance computes "
        "the report at most once per that many seconds and answers from memory in between.",
        "schema": {"type": "string", "pattern": "^public, max-age=[0-9]+$"},
    }
    age = {
        "description": "Seconds since this instance computed the report.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
    return {
        "operationId": "status",
        "summary": "The scheduler's public status (no authentication, read-only)",
        "parameters": [_param_ref("RequestId")],
        "responses": {
            "200": {
                "description": "The database answered.",
                "headers": {"Cache-Control": cache, "Age": age},
                "content": _json(Status),
            },
            "405": _response_ref("Error"),
            "500": _response_ref("Error"),
            "503": {
                "description": "The database did not answer in time; same shape, nothing known.",
                "content": _json(Status),
            },
        },
    }
