"""api: the JSON API under /v1 for applications and for the CLI in remote mode.

Routing, authentication, the rate limit, request parsing and the audit trail live here; every
decision is a use case in common.operations (common.entrypoints.api_body parses the bodies).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from flask import Request, Response
from pymongo.database import Database
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, MapAdapter, RoutingException, Rule

from common import accounts, audit, bulk_import, posts
from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import Doc, ensure_indexes, get_database
from common.entrypoints import api_body, api_media, api_schema, auth, web
from common.entrypoints.auth import Caller
from common.entrypoints.serve import Lazy, serve
from common.operations import accounts as account_ops
from common.operations import bulk, media, planning, post_actions, reconcile, scheduling
from common.operations.prompt_tasks import TaskStarter, task_starter
from common.platforms.base import LoginRefused, Registry
from common.platforms.registry import default_registry
from common.storage import MediaBucket, storage_config
from common.tokens import TokenCipher, TokenKeyError
from common.transitions import Refusal

log = logging.getLogger(__name__)

# A full batch of 1,000 posts with room for text; anything larger is refused unread.
MAX_BODY_BYTES = 2 * 1024 * 1024
IDEMPOTENCY_HEADER = api_schema.IDEMPOTENCY_HEADER
REPLAYED_HEADER = "Idempotent-Replayed"
RECONCILE_DEFAULT = 100


@dataclass(frozen=True)
class ApiService:
    settings: Settings

    @property
    def db(self) -> Database[Doc]:
        return get_database(self.settings)

    @functools.cached_property
    def bucket(self) -> MediaBucket | None:
        """The media bucket's client, made on the first media request of this instance."""
        config = storage_config(self.settings)
        return MediaBucket(config) if config else None

    @functools.cached_property
    def registry(self) -> Registry:
        """The networks' publishers and connectors, made on first use by this instance.
        Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is malformed."""
        return default_registry(self.settings)

    @property
    def cipher(self) -> TokenCipher:
        return TokenCipher.from_settings(self.settings)

    @functools.cached_property
    def tasks(self) -> TaskStarter | None:
        """DISPATCH=tasks: posts due before the next tick get their task at once."""
        return task_starter(self.settings)


def lazy_service() -> Lazy[ApiService]:
    def build() -> ApiService:
        service = ApiService(load_settings())
        ensure_indexes(service.db)  # once per instance: the unique and TTL indexes it relies on
        return service

    return Lazy(build)


def api_request(request: Request, service: Lazy[ApiService]) -> Response:
    return serve(request, _route, service)


@dataclass(frozen=True)
class Call:
    """One authenticated request, as a route handler sees it."""

    request: Request
    rid: str
    service: ApiService
    caller: Caller
    now: datetime
    path_id: str

    @property
    def db(self) -> Database[Doc]:
        return self.service.db

    @property
    def settings(self) -> Settings:
        return self.service.settings

    def audit(self, action: str, targets: Sequence[str], status: int) -> None:
        entry = audit.Entry(self.caller.who, action, targets, self.rid, status)
        retention = timedelta(days=self.service.settings.audit_retention_days)
        audit.record(self.db, entry, self.now, retention)


RouteHandler = Callable[[Call], Response]


def _route(request: Request, rid: str, service: ApiService) -> Response:
    operation, path_id = route_of(request)
    call = Call(request, rid, service, _caller(request, service), utcnow(), path_id)
    if not call.caller.allows(operation.scope):
        raise web.HttpError(403, f"This credential lacks the {operation.scope} scope")
    return HANDLERS[operation.operation_id](call)


def route_of(request: Request) -> tuple[api_schema.Operation, str]:
    """The declared operation for the request's path and method, and the path's id."""
    try:
        operation_id, args = ROUTER.match(request.path, request.method)
    except MethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        raise web.HttpError(405, "Method not allowed", {"Allow": allowed}) from exc
    except (NotFound, RoutingException) as exc:  # RoutingException: a redirect werkzeug offers
        raise web.HttpError(404, "No such resource") from exc
    return OPERATIONS[operation_id], str(args.get("id", ""))


def _caller(request: Request, service: ApiService) -> Caller:
    try:
        return auth.authenticate_caller(
            request.headers.get("Authorization"), service.settings, service.db, utcnow()
        )
    except auth.AuthError as exc:
        challenge = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        raise web.HttpError(exc.status, exc.message, challenge) from exc
    except auth.RateLimitedError as exc:
        raise web.HttpError(429, auth.RATE_LIMITED, {"Retry-After": str(exc.retry_after)}) from exc


# --- posts ----------------------------------------------------------------------------------


def create_posts(call: Call) -> Response:
    """One post or a batch, all or nothing; an Idempotency-Key makes a retry answer the same."""
    body = _body(call.request)
    key = call.request.headers.get(IDEMPOTENCY_HEADER)
    parsed = api_body.parse_create(body, key, call.caller.who)
    forbidden = sorted(
        {r.account_id for r in parsed.requests if not call.caller.may_use(r.account_id)}
    )
    if forbidden:
        raise web.HttpError(403, f"This credential may not post for {', '.join(forbidden)}"[:200])
    if parsed.single:
        result: Any = scheduling.schedule_post(
            call.db,
            parsed.requests[0],
            call.now,
            call.service.tasks,
            max_lateness=call.settings.max_lateness,
        )
        results = _single_results(result)
    else:
        result = bulk.schedule_batch(
            call.db,
            parsed.requests,
            call.now,
            tasks=call.service.tasks,
            max_lateness=call.settings.max_lateness,
        )
        results = _batch_results(result)
    created = [r for r in results if isinstance(r, scheduling.Scheduled)]
    status = 201 if created or key is not None else 200
    call.audit("posts.create", [str(r.post_id) for r in created], status)
    replayed = key is not None and not created
    items = [_created_item(r, replayed_with_key=key is not None) for r in results]
    answer = items[0] if parsed.single else {"posts": items}
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return web.json_response(answer, status, call.rid, headers=headers)


def _single_results(result: Any) -> list[scheduling.Scheduled | scheduling.AlreadyScheduled]:
    if isinstance(result, scheduling.NoSuchAccount):
        raise api_body.problems_error(
            [bulk.ItemProblem(0, "accountId", f"no account {result.account_id!r}")]
        )
    if isinstance(result, scheduling.Invalid):
        raise api_body.invalid_error(result)
    if isinstance(result, scheduling.KeyReused):
        raise _key_reused()
    return [result]


def _batch_results(result: Any) -> list[scheduling.Scheduled | scheduling.AlreadyScheduled]:
    if isinstance(result, bulk.BatchRefused):
        raise api_body.problems_error(list(result.problems))
    if isinstance(result, scheduling.KeyReused):
        raise _key_reused()
    return list(result.results)


def _key_reused() -> web.HttpError:
    return web.HttpError(422, f"This {IDEMPOTENCY_HEADER} was used with a different request")


def _created_item(
    result: scheduling.Scheduled | scheduling.AlreadyScheduled, *, replayed_with_key: bool
) -> Doc:
    # A replay under an Idempotency-Key answers what the first request was answered.
    already = isinstance(result, scheduling.AlreadyScheduled) and not replayed_with_key
    looks_like = result.looks_like if isinstance(result, scheduling.Scheduled) else ()
    warnings = [
        {"code": "looks_like", "postId": str(n.other_id), "message": n.message()}
        for n in looks_like
    ]
    return {"id": str(result.post_id), "alreadyScheduled": already, "warnings": warnings}


def get_post(call: Call) -> Response:
    doc = posts.get_document(call.db, _post_id(call.path_id))
    if doc is None or not call.caller.may_use(str(doc["accountId"])):
        raise web.HttpError(404, "No such post")
    return _post_response(doc, call.rid)


def list_posts(call: Call) -> Response:
    query = api_body.parse_list_query(call.request.args)
    if query.where.account_id is not None and not call.caller.may_use(query.where.account_id):
        raise web.HttpError(403, "This credential may not read that account's posts")
    where = query.where
    if call.caller.accounts is not None:
        where = dataclasses.replace(where, accounts_allowed=call.caller.accounts)
    page = posts.list_page(call.db, where, query.after, query.limit)
    body = {"posts": [api_body.post_json(d) for d in page.rows], "next": page.cursor}
    return web.json_response(body, 200, call.rid)


def edit_post(call: Call) -> Response:
    post_id = _owned_post(call)
    version = api_body.parse_if_match(call.request.headers.get("If-Match"))
    changes = api_body.parse_changes(_body(call.request))
    result = post_actions.edit_post(
        call.db,
        post_id,
        changes,
        call.now,
        max_lateness=call.settings.max_lateness,
        version=version,
        tasks=call.service.tasks,
    )
    if isinstance(result, scheduling.Invalid):
        raise api_body.invalid_error(result)
    if isinstance(result, post_actions.Refused):
        call.audit("posts.edit", [str(post_id)], _refused_status(result))
        raise _refused(result)
    call.audit("posts.edit", [str(post_id)], 200)
    doc = posts.get_document(call.db, post_id)
    assert doc is not None  # it was just edited; posts are never deleted
    return _post_response(doc, call.rid)


ActionResult = post_actions.Done | post_actions.Refused


def _post_action(
    action: Callable[[Database[Doc], ObjectId, datetime], ActionResult],
    name: str,
) -> RouteHandler:
    def handler(call: Call) -> Response:
        post_id = _owned_post(call)
        if _body(call.request):
            raise web.HttpError(400, "This action takes no body fields")
        return _action_answer(call, post_id, action(call.db, post_id, call.now), name)

    return handler


def _action_answer(call: Call, post_id: ObjectId, result: ActionResult, name: str) -> Response:
    """Every action, done or refused, is written to the audit log."""
    if isinstance(result, post_actions.Refused):
        call.audit(name, [str(post_id)], _refused_status(result))
        raise _refused(result)
    call.audit(name, [str(post_id)], 200)
    doc = posts.get_document(call.db, post_id)
    assert doc is not None
    return _post_response(doc, call.rid)


def submit_post(call: Call) -> Response:
    return _post_action(planning.submit_post, "posts.submit")(call)


def approve_post(call: Call) -> Response:
    """Approve: the lateness rule is the run's (MAX_LATENESS_SECONDS)."""
    lateness = timedelta(seconds=call.service.settings.max_lateness_seconds)
    tasks = call.service.tasks

    def approve(db: Database[Doc], post_id: ObjectId, now: datetime) -> ActionResult:
        return planning.approve_post(db, post_id, now, lateness, tasks)

    return _post_action(approve, "posts.approve")(call)


def send_back_post(call: Call) -> Response:
    post_id = _owned_post(call)
    asked = api_body.parse(api_schema.SendBack, _body(call.request))
    result = planning.send_back_post(call.db, post_id, asked.comment, call.now)
    return _action_answer(call, post_id, result, "posts.send_back")


def _owned_post(call: Call) -> ObjectId:
    """The path's post id, if this caller may touch it (otherwise it does not exist for them)."""
    post_id = _post_id(call.path_id)
    if call.caller.accounts is not None:
        post = posts.get(call.db, post_id)
        if post is None or not call.caller.may_use(post.account_id):
            raise web.HttpError(404, "No such post")
    return post_id


_REFUSAL_STATUS = {
    Refusal.NOT_FOUND: 404,
    Refusal.STALE: 412,
}


def _refused_status(refused: post_actions.Refused) -> int:
    return _REFUSAL_STATUS.get(refused.reason, 409)


def _refused(refused: post_actions.Refused) -> web.HttpError:
    details = {"status": refused.status} if refused.status else {}
    message = f"Refused: {refused.reason.value}"
    return web.HttpError(_refused_status(refused), message, details=details)


def _post_response(doc: Doc, rid: str) -> Response:
    etag = {"ETag": f'"{int(doc.get("version", 1))}"'}
    return web.json_response(api_body.post_json(doc), 200, rid, headers=etag)


def _post_id(raw: str) -> ObjectId:
    if not ObjectId.is_valid(raw):
        raise web.HttpError(404, "No such post")
    return ObjectId(raw)


def _body(request: Request) -> dict[str, Any]:
    return web.read_json_object(request, MAX_BODY_BYTES) or {}


# --- media ----------------------------------------------------------------------------------


def create_media(call: Call) -> Response:
    """An upload: 201 with the resumable session to PUT the bytes to, or 200 with the item that
    already holds the same bytes for the same accounts."""
    request = api_media.parse_upload(_body(call.request))
    forbidden = sorted(a for a in request.account_ids if not call.caller.may_use(a))
    if forbidden:
        raise web.HttpError(403, f"This credential may not use {', '.join(forbidden)}"[:200])
    bucket = api_media.require_bucket(call.service.bucket)
    origin = call.request.headers.get("Origin")
    made = media.create_upload(call.db, bucket, request, call.caller.who, call.now, origin)
    if isinstance(made, media.MediaRefused):
        raise api_media.refusal(made)
    status = 201 if made.upload_url else 200
    call.audit("media.create", [made.item.id], status)
    answer = {"media": api_media.media_json(made.item), "uploadUrl": made.upload_url}
    return web.json_response(answer, status, call.rid)


def complete_media(call: Call) -> Response:
    item = api_media.visible(media.get_media(call.db, call.path_id), call.caller)
    if _body(call.request):
        raise web.HttpError(400, "This action takes no body fields")
    bucket = api_media.require_bucket(call.service.bucket)
    done = media.complete_upload(call.db, bucket, item, call.now)
    if isinstance(done, media.MediaRefused):
        raise api_media.refusal(done)
    call.audit("media.complete", [done.id], 200)
    return web.json_response({"media": api_media.media_json(done)}, 200, call.rid)


def get_media(call: Call) -> Response:
    item = api_media.visible(media.get_media(call.db, call.path_id), call.caller)
    return web.json_response({"media": api_media.media_json(item)}, 200, call.rid)


# --- accounts -------------------------------------------------------------------------------


def list_accounts(call: Call) -> Response:
    rows = [
        api_body.account_json(a) for a in accounts.list_all(call.db) if call.caller.may_use(a.id)
    ]
    return web.json_response({"accounts": rows}, 200, call.rid)


def check_account(call: Call) -> Response:
    account_id = call.path_id
    if not call.caller.may_use(account_id) or accounts.get(call.db, account_id) is None:
        raise web.HttpError(404, "No such account")
    if _body(call.request):
        raise web.HttpError(400, "This action takes no body fields")
    with _token_key():
        service = call.service
        health = account_ops.check_tokens(
            call.db, service.cipher, service.registry, call.now, only=[account_id]
        )
    call.audit("accounts.check", [account_id], 200)
    return web.json_response(api_body.health_json(health[0]), 200, call.rid)


def set_slots(call: Call) -> Response:
    account_id = call.path_id
    if not call.caller.may_use(account_id):
        raise web.HttpError(404, "No such account")
    asked = api_body.parse(api_schema.PostingSlots, _body(call.request))
    result = planning.set_posting_slots(call.db, account_id, asked.time_zone, asked.slots, call.now)
    if isinstance(result, scheduling.NoSuchAccount):
        raise web.HttpError(404, "No such account")
    if isinstance(result, scheduling.Invalid):
        raise web.HttpError(400, "; ".join(p.message for p in result.problems))
    call.audit("accounts.set_slots", [account_id], 200)
    return web.json_response(planning.slots_json(result), 200, call.rid)


def connect_accounts(call: Call) -> Response:
    """A login of any network: the accounts it grants are added, or re-authenticated (their
    held posts released), credentials stored encrypted; a refused login stores nothing."""
    if call.caller.accounts is not None:
        raise web.HttpError(403, "A key limited to accounts cannot connect new ones")
    asked = api_body.parse_connect(_body(call.request))
    service = call.service
    with _token_key():
        connector = service.registry.connector(asked.network)
        assert connector is not None  # parse_connect takes only the networks registered
        result = account_ops.connect(
            call.db, service.cipher, connector, asked.login, call.now, asked.account_id
        )
    if isinstance(result, LoginRefused):
        status = 503 if result.unavailable else 422
        call.audit("accounts.connect", [], status)
        raise web.HttpError(status, result.reason[:300])
    call.audit("accounts.connect", [a.account_id for a in result.accounts], 200)
    return web.json_response(api_body.connected_json(result), 200, call.rid)


@contextmanager
def _token_key() -> Iterator[None]:
    """TOKEN_ENCRYPTION_KEY unset or malformed: the deployment's problem, said without detail."""
    try:
        yield
    except TokenKeyError as exc:
        log.error("token encryption unusable", extra={"reason": str(exc)})
        raise web.HttpError(503, "Token encryption is not configured on the server") from exc


# --- reconcile ------------------------------------------------------------------------------


def import_posts(call: Call) -> Response:
    """A CSV file in one request: every row checked before anything is stored (the CLI's
    `import`, remotely, with the same answers and problems as on the database)."""
    asked = api_body.parse(api_schema.ImportRequest, _body(call.request))
    try:
        rows, _ = bulk_import.read(io.StringIO(asked.csv, newline=""))
        named = {row.cells.get("account", "") for row in rows}
        forbidden = sorted(a for a in named if a and not call.caller.may_use(a))
        if forbidden:
            raise web.HttpError(
                403, f"This credential may not post for {', '.join(forbidden)}"[:200]
            )
        result = bulk.import_csv(
            call.db,
            io.StringIO(asked.csv, newline=""),
            call.now,
            max_lateness=call.settings.max_lateness,
            owner=call.caller.who,
            default_time_zone=asked.time_zone,
            allow_late=asked.allow_late,
            tasks=call.service.tasks,
        )
    except csv.Error as exc:
        raise web.HttpError(400, f"csv is not a readable CSV file: {exc}"[:200]) from exc
    if isinstance(result, bulk.ImportRefused):
        raise api_body.rows_error(result)
    changed = [str(r.post_id) for r in (*result.created, *result.updated)]
    call.audit("posts.import", changed, 200)
    return web.json_response(api_body.import_json(result), 200, call.rid)


def reconcile_posts(call: Call) -> Response:
    """Look for unknown posts on their networks (the CLI's `posts reconcile`, remotely)."""
    asked = api_body.parse(api_schema.ReconcileRequest, _body(call.request))
    limit = asked.limit if asked.limit is not None else RECONCILE_DEFAULT
    service = call.service
    with _token_key():
        registry = service.registry
        report = reconcile.reconcile_unknown(
            call.db, service.settings, registry, call.now, limit=limit
        )
    call.audit("posts.reconcile", [], 200)
    return web.json_response(api_body.reconcile_json(report), 200, call.rid)


# --- routing --------------------------------------------------------------------------------


class _Id(BaseConverter):
    """A path id ends at the `:` of an action (`/v1/posts/{id}:cancel`)."""

    regex = r"[^/:]+"


def _rule(operation: api_schema.Operation) -> Rule:
    # OpenAPI's {id} as werkzeug's <id:id>.
    path = re.sub(r"\{(\w+)\}", r"<id:\1>", operation.path)
    return Rule(path, methods=[operation.method], endpoint=operation.operation_id)


HANDLERS: Mapping[str, RouteHandler] = {
    "create_posts": create_posts,
    "list_posts": list_posts,
    "get_post": get_post,
    "edit_post": edit_post,
    "cancel_post": _post_action(post_actions.cancel_post, "posts.cancel"),
    "retry_post": _post_action(post_actions.retry_post, "posts.retry"),
    "submit_post": submit_post,
    "approve_post": approve_post,
    "send_back_post": send_back_post,
    "import_posts": import_posts,
    "reconcile_posts": reconcile_posts,
    "create_media": create_media,
    "get_media": get_media,
    "complete_media": complete_media,
    "list_accounts": list_accounts,
    "connect_accounts": connect_accounts,
    "check_account": check_account,
    "set_slots": set_slots,
}
OPERATIONS = {op.operation_id: op for op in api_schema.API_OPERATIONS}
ROUTES = Map(
    [_rule(op) for op in api_schema.API_OPERATIONS],
    converters={"id": _Id},
    strict_slashes=False,
    merge_slashes=False,
)
ROUTER: MapAdapter = ROUTES.bind("api")
